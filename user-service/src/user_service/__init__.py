"""User service: owner of the `users` table, profile/admin API and internal credentials API."""
