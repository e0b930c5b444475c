#!/bin/sh
# Initialise the data directory on first start, apply init.sql (idempotent: role, database,
# password kept in step with the secret) on every start over the Unix socket only, then run
# the server in the foreground listening on the container network.
#   AUTHSTACK_DB_PASSWORD (required)   password of the application role `authstack`
set -eu
: "${AUTHSTACK_DB_PASSWORD:?AUTHSTACK_DB_PASSWORD is required}"
: "${PGDATA:=/var/lib/postgresql/data}"
socket_dir=/tmp
log() { echo "postgres-entrypoint: $*" >&2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    log "initialising $PGDATA"
    # Superuser `postgres` has no password: it logs in over the local socket only (peer).
    initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    echo "include '/etc/authstack/postgresql.conf'" >>"$PGDATA/postgresql.conf"
    # The application connects from other containers, always with a password.
    cat >>"$PGDATA/pg_hba.conf" <<'HBA'
host    authstack       authstack       0.0.0.0/0               scram-sha-256
host    authstack       authstack       ::/0                    scram-sha-256
HBA
fi

pg_ctl --pgdata="$PGDATA" --wait --silent \
    -o "-c listen_addresses='' -c unix_socket_directories=$socket_dir" start
psql --host="$socket_dir" --username=postgres --dbname=postgres --quiet --no-psqlrc \
    -v ON_ERROR_STOP=1 -v authstack_password="$AUTHSTACK_DB_PASSWORD" \
    -f /etc/authstack/init.sql >/dev/null
pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
log "init done; starting the server"

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories="$socket_dir" "$@"
