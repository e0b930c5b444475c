#!/bin/sh
# Run a command with REDIS_CLUSTER_NODES set to every pod of the Redis StatefulSet, by its
# stable DNS name (pod.headless-service:6379), from the ConfigMap's REDIS_CLUSTER_SIZE: the
# image's redis-cluster-create (infra/redis-cluster/create-cluster.sh) and scale-out.sh
# take that list. One place derives it, so the jobs and a resized StatefulSet cannot
# disagree about names.
set -eu
size=${REDIS_CLUSTER_SIZE:?set REDIS_CLUSTER_SIZE (the StatefulSet replicas)}
sts=${REDIS_STATEFULSET:-redis-cluster}
svc=${REDIS_HEADLESS_SERVICE:-redis-cluster-headless}
nodes=""
i=0
while [ "$i" -lt "$size" ]; do
    nodes="$nodes,$sts-$i.$svc:6379"
    i=$((i + 1))
done
REDIS_CLUSTER_NODES=${nodes#,}
export REDIS_CLUSTER_NODES
exec "$@"
