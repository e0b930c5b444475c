-- Idempotent role and database set-up for the authstack application.
-- Run as a superuser with psql, passing the password as a variable:
--   psql -v ON_ERROR_STOP=1 -v authstack_password="$AUTHSTACK_DB_PASSWORD" -f init.sql
-- The native launcher (devstack.postgres) runs the same statements through psycopg.

SELECT format('CREATE ROLE authstack LOGIN PASSWORD %L', :'authstack_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authstack') \gexec

-- Keep the password in step with the secret even when the role already exists.
SELECT format('ALTER ROLE authstack LOGIN PASSWORD %L', :'authstack_password') \gexec

SELECT 'CREATE DATABASE authstack OWNER authstack ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'authstack') \gexec

ALTER DATABASE authstack OWNER TO authstack;
