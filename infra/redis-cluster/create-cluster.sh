#!/bin/sh
# One-shot job: wait for the six nodes, create the cluster (3 masters + 3 replicas) only if it
# is not formed yet, re-introduce the nodes to each other where one still has another at an
# old address (container addresses change when containers start again; nodes.conf keeps the
# old ones), and exit 0 only once the cluster is really healthy, twice in a row
# REDIS_CLUSTER_STABLE_SECONDS apart: every node says cluster_state:ok, lists every node at
# its current address with a live link and no failure flag, all nodes agree on roles and
# slots, and every master has a replica replicating from it. Non-zero with each node's
# problems after REDIS_CLUSTER_WAIT_SECONDS.
#   REDIS_CLUSTER_NODES=redis-1:6379,redis-2:6379,...   (six host:port)
#   REDIS_CLUSTER_CREATE=no   converge only: never create (what each node runs at its own
#                             start, node-entrypoint.sh; the job creates a fresh cluster)
#   REDIS_ADMIN_PASSWORD=...   (the ACL user `admin`; redis-cli reads it from REDISCLI_AUTH,
#                               so it is never on a command line)
#
# Why not just cluster_state:ok: a node that has just started considers every peer reachable
# until its first pings time out, so it says "ok" while it still talks to old addresses; and
# Redis' gossip can hand a node an old address back (a peer that has not noticed the move
# yet), which one round of CLUSTER MEET from one node does not undo.
set -eu
nodes=$(echo "${REDIS_CLUSTER_NODES:?set REDIS_CLUSTER_NODES=host:port,...}" | tr ',' ' ')
REDISCLI_AUTH=${REDIS_ADMIN_PASSWORD:?set REDIS_ADMIN_PASSWORD (the ACL user admin)}
export REDISCLI_AUTH
rcli() { redis-cli --no-auth-warning --user admin "$@"; }
wait_s=${REDIS_CLUSTER_WAIT_SECONDS:-180}
stable_s=${REDIS_CLUSTER_STABLE_SECONDS:-3}
deadline=$(( $(date +%s) + wait_s ))

log() { echo "redis-cluster-create: $*" >&2; }
cli() { hp=$1; shift; rcli -h "${hp%:*}" -p "${hp##*:}" "$@" | tr -d '\r'; }
expired() { [ "$(date +%s)" -ge "$deadline" ]; }
info_field() { cli "$1" cluster info 2>/dev/null | sed -n "s/^$2://p"; }

# 1. Every node answers (names resolve only once its container runs: retry both).
addrs=""
for hp in $nodes; do
    delay=1
    until ip=$(getent hosts "${hp%:*}" | awk '{print $1; exit}') && [ -n "$ip" ] \
            && [ "$(rcli -h "$ip" -p "${hp##*:}" ping 2>/dev/null)" = PONG ]; do
        expired && { log "node $hp not reachable after ${wait_s}s"; exit 1; }
        sleep "$delay"; [ "$delay" -lt 5 ] && delay=$((delay + 1))
    done
    addrs="$addrs $ip:${hp##*:}"
done
addrs=${addrs# }
count=$(echo "$addrs" | wc -w)
log "all nodes answer: $addrs"

# 2. Create only when no node knows any other and no slot is assigned anywhere.
fresh=yes
for a in $addrs; do
    [ "$(info_field "$a" cluster_known_nodes)" = 1 ] && [ "$(info_field "$a" cluster_slots_assigned)" = 0 ] \
        || fresh=no
done
if [ "$fresh" = yes ] && [ "${REDIS_CLUSTER_CREATE:-yes}" = no ]; then
    log "no cluster formed yet: left to the creating job"
    exit 0
elif [ "$fresh" = yes ]; then
    log "creating the cluster"
    # shellcheck disable=SC2086
    rcli --cluster create $addrs --cluster-replicas 1 --cluster-yes
else
    log "cluster already formed"
fi

# "node-id ip:port" of every node, as each one says itself (CLUSTER MYID).
members=""
for a in $addrs; do
    members="$members $(cli "$a" cluster myid) $a"
done

# Node $1's view (CLUSTER NODES on stdin) against the members: one problem per line.
view_problems() {
    awk -v members="$members" -v count="$count" -v self="$1" '
        BEGIN { n = split(members, m, " "); for (i = 1; i < n; i += 2) at[m[i]] = m[i + 1] }
        NF < 8 { next }
        {
            addr = $2; sub(/@.*/, "", addr)  # ip:port@cport[,hostname]
            seen++
            if (!($1 in at)) { print "knows " $1 " at " addr ", not one of the six"; next }
            if (addr != at[$1]) print "has " at[$1] " at its old address " addr
            if ($3 ~ /fail|handshake|noaddr/) print "flags " at[$1] " " $3
            if ($3 !~ /myself/ && $8 != "connected") print "no link to " at[$1]
            if ($3 ~ /master/ && NF > 8) { masters++; serving[$1] = 1 }
            if ($3 ~ /slave/) replicated[$4] = 1
        }
        END {
            if (seen != count) print "knows " seen + 0 " nodes, not " count
            if (masters != int(count / 2)) print masters + 0 " masters serve slots, not " int(count / 2)
            for (id in serving) if (!(id in replicated)) print "master " at[id] " has no replica"
        }'
}

# The cluster as node $1 sees it, without its own point of view: compared across nodes.
view_digest() {
    cli "$1" cluster nodes | awk 'NF >= 8 {
        role = ($3 ~ /master/) ? "master" : "replica"; slots = ""
        for (i = 9; i <= NF; i++) slots = slots " " $i
        print $1, role, $4, slots }' | sort | cksum
}

# Replication as node $1 reports it: a replica's link up, a master's replica online.
replication_problems() {
    cli "$1" info replication | awk -v node="$1" '
        /^role:/ { role = substr($0, 6) }
        /^master_link_status:/ { link = substr($0, 20) }
        /^slave[0-9]+:.*state=online/ { online++ }
        END {
            if (role == "slave" && link != "up") print "replica " node " link to its master " link
            if (role == "master" && online < 1) print "master " node " has no replica online"
        }'
}

problems() {  # every problem of node $1, as "node: problem" lines; nothing when healthy
    { [ "$(info_field "$1" cluster_state)" = ok ] || echo "cluster_state not ok"
      [ "$(info_field "$1" cluster_slots_ok)" = 16384 ] || echo "not all 16384 slots ok"
      cli "$1" cluster nodes | view_problems "$1"
      replication_problems "$1"
    } 2>&1 | sed "s|^|$1: |"
}

healthy() {  # every node without problems, and all of them with the same view
    digests=""
    for a in $addrs; do
        [ -z "$(problems "$a")" ] || return 1
        digests="$digests$(view_digest "$a")
"
    done
    [ "$(printf '%s' "$digests" | sort -u | wc -l)" = 1 ]
}

# CLUSTER MEET node $1 with each member it has at an old address: the peer then learns
# $1's address from its pings too. Never MEETs a node no member knows (that would add an
# empty master to a formed cluster instead of failing loudly).
introduce() {
    cli "$1" cluster nodes | awk -v members="$members" '
        BEGIN { n = split(members, m, " "); for (i = 1; i < n; i += 2) at[m[i]] = m[i + 1] }
        NF >= 8 && ($1 in at) && $3 !~ /myself/ {
            addr = $2; sub(/@.*/, "", addr)
            if (addr != at[$1]) print at[$1]
        }' | while read -r peer; do
        log "$1 still has ${peer} at an old address: CLUSTER MEET"
        cli "$1" cluster meet "${peer%:*}" "${peer##*:}" >/dev/null
    done
}

# A replica that learnt its master's new address from gossip keeps replicating from the old
# one (Redis 7.0 updates the replication target only when the master itself tells it). Once
# the replica's view has its master at the current address, point it at its master again.
repoint_replica() {
    info=$(cli "$1" info replication)
    case $info in *role:slave*) ;; *) return 0 ;; esac
    replicating_from=$(echo "$info" | sed -n 's/^master_host://p'):$(echo "$info" | sed -n 's/^master_port://p')
    master=$(cli "$1" cluster nodes | awk '  # "master-id address", as the replica sees it
        $3 ~ /myself/ { master = $4 } { addr = $2; sub(/@.*/, "", addr); at[$1] = addr }
        END { print master, at[master] }')
    case " $members " in *" $master "*) ;; *) return 0 ;; esac  # view not current yet
    [ "${master#* }" = "$replicating_from" ] && return 0
    log "$1 replicates from $replicating_from, its master is at ${master#* }: CLUSTER REPLICATE"
    cli "$1" cluster replicate "${master%% *}" >/dev/null
}

# 3. Converge, then make sure it holds.
while :; do
    for a in $addrs; do introduce "$a"; repoint_replica "$a"; done
    if healthy; then
        sleep "$stable_s"
        healthy && break
    fi
    if expired; then
        log "cluster not healthy after ${wait_s}s:"
        for a in $addrs; do problems "$a" >&2; done
        for a in $addrs; do log "CLUSTER NODES of $a:"; cli "$a" cluster nodes >&2; done
        exit 1
    fi
    sleep 1
done
log "cluster healthy: every node agrees, every master has a replica online"
cli "${addrs%% *}" cluster nodes | cut -d' ' -f2,3,4 >&2
