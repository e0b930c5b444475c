#!/usr/bin/env bash
# Installs what the native stack and the tests need when it is missing:
# uv (from PyPI), the locked Python environment, and the redis-server, PostgreSQL 15
# and Chromium (+ chromedriver) binaries (Debian packages, only when running as root).
# Nothing is downloaded from anywhere but the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*" >&2; }

find_pg_bin() {
  for dir in "${PG_BIN_DIR:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  return 1
}

missing_debs=()
command -v redis-server >/dev/null 2>&1 || missing_debs+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing_debs+=(redis-tools)
find_pg_bin >/dev/null || missing_debs+=(postgresql-15)
# The CORS test drives a real headless browser (Selenium, pointed at Debian's chromedriver).
command -v chromium >/dev/null 2>&1 || missing_debs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing_debs+=(chromium-driver)
for extra in ${EXTRA_DEBS:-}; do
  command -v "$extra" >/dev/null 2>&1 || missing_debs+=("$extra")
done

if [ ${#missing_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: ${missing_debs[*]}; install them (e.g. sudo apt-get install ${missing_debs[*]}) and retry"
    exit 1
  fi
  say "installing Debian packages: ${missing_debs[*]}"
  # Keep the packages' own init scripts from starting a server on the default ports.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
  [ "$created_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
fi

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet uv || python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --frozen --all-packages --quiet
