#!/bin/sh
# Grow the Redis Cluster onto the StatefulSet's new, empty pods: the procedure of
# docs/scaling-redis.md (the one devstack.testkit.redis_scale runs natively), one shard at a
# time. Run by the redis-cluster-scale-out job after the StatefulSet was scaled up and
# REDIS_CLUSTER_SIZE raised to match (docs/kubernetes.md, "Redis scale-out").
#
# New pods are taken in ordinal order, in pairs: the first of a pair joins as an empty master,
# the second as its replica; then `--cluster rebalance --cluster-use-empty-masters` moves
# slots onto the new masters (clients follow ASK/MOVED). Idempotent: a node already in the
# cluster is left alone, so a job that died half-way is simply run again.
#   REDIS_CLUSTER_NODES  every node, host:port,...  (with-cluster-nodes.sh sets it)
#   REDIS_ADMIN_PASSWORD the ACL user admin's password (read by redis-cli from REDISCLI_AUTH)
set -eu
REDISCLI_AUTH=${REDIS_ADMIN_PASSWORD:?set REDIS_ADMIN_PASSWORD (the ACL user admin)}
export REDISCLI_AUTH
wait_s=${REDIS_CLUSTER_WAIT_SECONDS:-300}
deadline=$(( $(date +%s) + wait_s ))
log() { echo "redis-scale-out: $*" >&2; }
rcli() { redis-cli --no-auth-warning --user admin "$@"; }
cli() { hp=$1; shift; rcli -h "${hp%:*}" -p "${hp##*:}" "$@" | tr -d '\r'; }
info_field() { cli "$1" cluster info 2>/dev/null | sed -n "s/^$2://p"; }
await() {  # await "what" command...: retry until the command succeeds or the deadline
    what=$1; shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || { log "gave up waiting for $what"; exit 1; }
        sleep 2
    done
}

# Conditions to wait for (functions, so the password stays in the environment).
resolves() { getent hosts "${1%:*}" >/dev/null; }
answers() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }
joined() { [ "$(info_field "$1" cluster_known_nodes)" -gt 1 ] 2>/dev/null; }
replicating() { cli "$1" info replication | grep -q '^master_link_status:up'; }
agreed() { rcli --cluster check "$seed" >/dev/null 2>&1; }
seed_knows() { cli "$seed" cluster nodes | grep -q "^$1 "; }

# Addresses, as the other scripts use them: redis-cli --cluster speaks IPs.
seed="" new=""
for node in $(echo "${REDIS_CLUSTER_NODES:?}" | tr ',' ' '); do
    await "$node to resolve" resolves "$node"
    addr="$(getent hosts "${node%:*}" | awk '{print $1; exit}'):${node##*:}"
    await "$node to answer" answers "$addr"
    if [ "$(info_field "$addr" cluster_known_nodes)" = 1 ] \
            && [ "$(info_field "$addr" cluster_slots_assigned)" = 0 ]; then
        new="$new $addr"
    elif [ -z "$seed" ]; then
        seed=$addr
    fi
done
[ -n "$seed" ] || { log "no node is in a cluster yet: run redis-cluster-init first"; exit 1; }
# A master that joined without its replica (a job that died half-way) gets the next new
# node as its replica first: "id ip:port" of every empty master no replica follows.
orphans=$(cli "$seed" cluster nodes | awk '
    { addr = $2; sub(/@.*/, "", addr) }
    $3 ~ /master/ && NF == 8 { empty[$1] = addr }
    $3 ~ /slave/ { followed[$4] = 1 }
    END { for (id in empty) if (!(id in followed)) print id, empty[id] }')

# shellcheck disable=SC2086
set -- $new
add_replica() {  # add_replica node master-id
    log "adding replica $1 of $2"
    await "$seed to know master $2" seed_knows "$2"
    rcli --cluster add-node "$1" "$seed" --cluster-slave --cluster-master-id "$2"
    await "$1 to replicate" replicating "$1"
}
while read -r id addr; do
    [ -n "$id" ] || continue
    [ $# -gt 0 ] || { log "master $addr has no replica and no new node is left for it"; exit 1; }
    add_replica "$1" "$id"
    shift
done <<ORPHANS
$orphans
ORPHANS
[ $(( $# % 2 )) = 0 ] || { log "$# new nodes: add them in pairs (master + replica)"; exit 1; }
[ $# -gt 0 ] || [ -n "$orphans" ] || log "no new nodes"

while [ $# -gt 0 ]; do
    master=$1 replica=$2
    shift 2
    log "adding master $master"
    rcli --cluster add-node "$master" "$seed"
    master_id=$(cli "$master" cluster myid)
    await "$master to know the cluster" joined "$master"
    add_replica "$replica" "$master_id"
done

# Slots onto the empty masters; never --cluster-replace (it overwrites on BUSYKEY).
rcli --cluster rebalance "$seed" --cluster-use-empty-masters --cluster-pipeline 100
# Gossip needs a moment before every node has every moved slot at its new owner.
await "every node to agree on the slots" agreed
rcli --cluster check "$seed"
log "done"
