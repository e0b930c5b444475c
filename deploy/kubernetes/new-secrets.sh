#!/bin/sh
# Fill an overlay's secrets/*.env with fresh random values (never committed: .gitignore),
# and make a first JWT signing key for the authstack-jwt-keys Secret:
#   deploy/kubernetes/new-secrets.sh dev|prod
# Existing files are kept: remove one to regenerate it. Needs openssl; the JWT key needs the
# repository's environment (uv) once, run from the repository root.
set -eu
overlay=${1:?usage: new-secrets.sh dev|prod}
dir=$(dirname "$0")/$overlay/secrets
[ -d "$dir" ] || { echo "no overlay $overlay" >&2; exit 2; }
umask 077
# Hex: URL-safe (DATABASE_URL) and fine in every other setting.
random() { openssl rand -hex 32; }

if [ ! -e "$dir/redis-passwords.env" ]; then
    for role in ADMIN REPLICATION GATEWAY AUTH_SERVICE USER_SERVICE; do
        echo "REDIS_${role}_PASSWORD=$(random)"
    done >"$dir/redis-passwords.env"
fi
if [ ! -e "$dir/app-secrets.env" ]; then
    {
        echo "INTERNAL_API_TOKEN=$(random)"
        echo "THROTTLE_SECRET=$(random)"
        echo "MFA_ENCRYPTION_KEYS=k$(date +%Y%m%d):$(openssl rand -base64 32)"
        echo "SMTP_PASSWORD="
    } >"$dir/app-secrets.env"
fi
if [ -e "$dir/postgres.env.example" ] && [ ! -e "$dir/postgres.env" ]; then
    echo "POSTGRES_PASSWORD=$(random)" >"$dir/postgres.env"
fi
if [ ! -e "$dir/jwt-keys/keys.json" ]; then
    mkdir -p "$dir/jwt-keys"
    # The auth service's own key generation (a first key in a fresh directory).
    JWT_KEYS_DIR="$dir/jwt-keys" uv run --frozen python -c \
        'import os, pathlib; from auth_service.keys import ensure_keys; ensure_keys(pathlib.Path(os.environ["JWT_KEYS_DIR"]), "RS256")'
fi
echo "secrets in $dir; create the JWT key Secret with:"
echo "  kubectl -n authstack create secret generic authstack-jwt-keys --from-file=$dir/jwt-keys"
