#!/bin/sh
# Start one cluster node: the project's redis.conf plus the per-node lines (later lines win).
# The node announces its own container address, which every container on the compose network
# can reach (the default would be whatever address a peer happened to see).
# The ACL users come from /etc/redis/users.acl (infra/redis-cluster/users.acl, the same rules
# devstack renders natively), each with the SHA-256 of its password from the environment:
# REDIS_<ROLE>_PASSWORD (REDIS_ADMIN_PASSWORD, REDIS_GATEWAY_PASSWORD,
# REDIS_AUTH_SERVICE_PASSWORD, ...); `default` (off, no password) is written as it is.
set -eu
port=${REDIS_PORT:-6379}
announce=${REDIS_ANNOUNCE_IP:-$(hostname -i | awk '{print $1}')}
conf=/tmp/redis-node.conf
acl=/etc/redis/users.acl

hashes=""
for role in $(awk '!/^#/ && NF && $1 !~ /^@/ && $1 != "default" { print $1 }' "$acl"); do
    var="REDIS_$(echo "$role" | tr 'a-z-' 'A-Z_')_PASSWORD"
    eval "password=\${$var:-}"
    [ -n "$password" ] || { echo "redis-node: set $var (the ACL user $role)" >&2; exit 1; }
    hashes="$hashes $role=$(printf %s "$password" | sha256sum | cut -d' ' -f1)"
done

umask 077  # the config holds the replication password
{
    cat /etc/redis/authstack.conf
    echo "port $port"
    echo "bind * -::*"
    # Only reachable on the private compose network, and nobody gets in without a password.
    echo "protected-mode no"
    echo "dir /data"
    echo "cluster-config-file /data/nodes.conf"
    echo "cluster-announce-ip $announce"
    awk -v hashes="$hashes" '
        BEGIN { n = split(hashes, h, " "); for (i = 1; i <= n; i++) { split(h[i], kv, "="); hash[kv[1]] = kv[2] } }
        /^#/ || NF == 0 { next }
        { rules = ""; for (i = 2; i <= NF; i++) rules = rules " " (($i in macro) ? macro[$i] : $i) }
        $1 ~ /^@/ { macro[$1] = substr(rules, 2); next }
        $1 == "default" { print "user default" rules; next }
        { print "user " $1 " on #" hash[$1] rules }' "$acl"
    echo "masteruser replication"
    echo "masterauth $REDIS_REPLICATION_PASSWORD"
} >"$conf"
# With REDIS_CLUSTER_NODES (compose), every start of a node also converges the cluster in
# the background: when all six containers start again with new addresses (a host reboot
# with restart policies, `restart` of them all), nodes.conf still has the old ones, and no
# job would be run to introduce them. The same script as the job, never creating; it waits
# for the peers (and this node, started just below), re-introduces what moved, and exits.
# It becomes a child of redis-server, so it ends with the container.
if [ -n "${REDIS_CLUSTER_NODES:-}" ]; then
    REDIS_CLUSTER_CREATE=no redis-cluster-create &
fi
exec redis-server "$conf" "$@"
