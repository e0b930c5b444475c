#!/bin/sh
# One-shot job: wait for the six nodes, create the cluster (3 masters + 3 replicas) only if it
# is not formed yet, and re-introduce the nodes to each other (their container addresses may
# have changed since their nodes.conf was written). Exits 0 once every node reports
# cluster_state:ok; non-zero with a message after REDIS_CLUSTER_WAIT_SECONDS.
#   REDIS_CLUSTER_NODES=redis-1:6379,redis-2:6379,...   (six host:port)
set -eu
nodes=$(echo "${REDIS_CLUSTER_NODES:?set REDIS_CLUSTER_NODES=host:port,...}" | tr ',' ' ')
wait_s=${REDIS_CLUSTER_WAIT_SECONDS:-180}
deadline=$(( $(date +%s) + wait_s ))

log() { echo "redis-cluster-create: $*" >&2; }
cli() { hp=$1; shift; redis-cli -h "${hp%:*}" -p "${hp##*:}" "$@"; }
expired() { [ "$(date +%s)" -ge "$deadline" ]; }
info_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# 1. Every node answers (names resolve only once its container runs: retry both).
addrs=""
for hp in $nodes; do
    delay=1
    until ip=$(getent hosts "${hp%:*}" | awk '{print $1; exit}') && [ -n "$ip" ] \
            && [ "$(redis-cli -h "$ip" -p "${hp##*:}" ping 2>/dev/null)" = PONG ]; do
        expired && { log "node $hp not reachable after ${wait_s}s"; exit 1; }
        sleep "$delay"; [ "$delay" -lt 5 ] && delay=$((delay + 1))
    done
    addrs="$addrs $ip:${hp##*:}"
done
log "all nodes answer:$addrs"
first=${addrs# }; first=${first%% *}

# 2. Create only when no node knows any other and no slot is assigned anywhere.
fresh=yes
for a in $addrs; do
    [ "$(info_field "$a" cluster_known_nodes)" = 1 ] && [ "$(info_field "$a" cluster_slots_assigned)" = 0 ] \
        || fresh=no
done
if [ "$fresh" = yes ]; then
    log "creating the cluster"
    # shellcheck disable=SC2086
    redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes
else
    log "cluster already formed; re-introducing nodes at their current addresses"
    for a in $addrs; do
        cli "$first" cluster meet "${a%:*}" "${a##*:}" >/dev/null
    done
fi

# 3. Done when every node sees a healthy cluster of six.
for a in $addrs; do
    until [ "$(info_field "$a" cluster_state)" = ok ] && [ "$(info_field "$a" cluster_known_nodes)" = 6 ]; do
        expired && { log "node $a: cluster not ok after ${wait_s}s:"; cli "$a" cluster nodes >&2; exit 1; }
        sleep 1
    done
done
log "cluster ok"
cli "$first" cluster nodes | cut -d' ' -f2,3 >&2
