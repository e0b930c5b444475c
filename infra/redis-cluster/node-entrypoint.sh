#!/bin/sh
# Start one cluster node: the project's redis.conf plus the per-node lines (later lines win).
# The node announces its own container address, which every container on the compose network
# can reach (the default would be whatever address a peer happened to see).
set -eu
port=${REDIS_PORT:-6379}
announce=${REDIS_ANNOUNCE_IP:-$(hostname -i | awk '{print $1}')}
conf=/tmp/redis-node.conf
{
    cat /etc/redis/authstack.conf
    echo "port $port"
    echo "bind * -::*"
    # Only reachable on the private compose network; the gateway is the only published port.
    echo "protected-mode no"
    echo "dir /data"
    echo "cluster-config-file /data/nodes.conf"
    echo "cluster-announce-ip $announce"
} >"$conf"
exec redis-server "$conf" "$@"
