#!/bin/sh
# Renders the upstream block from LB_UPSTREAMS ("10.89.240.11:3000 10.89.240.12:3000"), the
# trusted proxies in front, and runs nginx in the foreground (its logs go to the container's stdout/stderr).
set -eu
: "${LB_UPSTREAMS:?set LB_UPSTREAMS to the gateways (host:port, space-separated)}"
{
    echo "upstream gateways {"
    for server in $LB_UPSTREAMS; do
        # max_fails/fail_timeout: a gateway that refuses connections is left out for 5 s.
        echo "    server $server max_fails=1 fail_timeout=5s;"
    done
    # Idle connections kept open to the gateways, per worker.
    echo "    keepalive 32;"
    echo "    keepalive_timeout 60s;"
    echo "}"
} >/run/lb/upstreams.conf
# Proxies in front of this one (LB_TRUSTED_PROXIES, comma-separated CIDRs): their
# X-Forwarded-For names the client (realip module, walked from the right); none by default.
{
    for network in $(echo "${LB_TRUSTED_PROXIES:-}" | tr ',' ' '); do
        echo "set_real_ip_from $network;"
    done
    echo "real_ip_header X-Forwarded-For;"
    echo "real_ip_recursive on;"
} >/run/lb/realip.conf
sed "s/@LB_PORT@/${LB_PORT:-3000}/" /etc/nginx/nginx.conf >/run/lb/nginx.conf
nginx -e stderr -t -q -c /run/lb/nginx.conf
exec nginx -e stderr -c /run/lb/nginx.conf -g "daemon off;"
