#!/usr/bin/env bash
# `make test-compose`: build every image, start deploy/compose.yml with throwaway secrets, run
# the target-agnostic e2e suite against it (through the load balancer in front of the two
# gateways), and always tear it down (containers, network,
# volumes, secrets). Prints the time of each phase; on failure, the failing containers' logs.
# Phases after the stack is up: the e2e suite (tracing on, spans to a receiver the tests run),
# the security suite (its stacks are replica containers), the fault tests that have a
# container implementation (devstack.testkit.compose_faults), then a stop/start of the whole
# stack checking that users, tokens and rate limits survive, and a restart of all six Redis.
#
# Environment: COMPOSE_UP_TIMEOUT (s, default 300), COMPOSE_GATEWAY_PORT (default 3000, or a
# free port when 3000 is taken), COMPOSE_PROJECT (default authstack-e2e), KEEP_STACK=1 (skip
# teardown, for debugging), PYTEST_ARGS (extra pytest arguments, split on spaces; for a -k
# expression use PYTEST_ADDOPTS), COMPOSE_SECURITY=0, COMPOSE_FAULTS=0 and COMPOSE_RESTART=0
# (skip those phases).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=${COMPOSE_PROJECT:-authstack-e2e}
UP_TIMEOUT=${COMPOSE_UP_TIMEOUT:-300}
BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
# name:Dockerfile directory[:build args]; the Python services share one Dockerfile.
IMAGES=(redis-node:infra/redis-cluster postgres:infra/postgres lb:infra/lb
        user-service:infra/service:SERVICE=user-service,PORT=8002
        auth-service:infra/service:SERVICE=auth-service,PORT=8001
        gateway:infra/service:SERVICE=gateway,PORT=3000
        mail:infra/service:SERVICE=devstack,PORT=2525)
# The devstack.testkit.compose_target plugin is the target switch: it answers `stack`, `fault_stack`,
# `stack_starter` and `otlp_receiver` with the compose stack (extra gateways and the security
# suite's services as replica containers), and deselects what still needs native processes.
# Fault tests with a container implementation (the rest are `make test` only):
FAULT_TESTS=(tests/e2e/faults/test_redis_failover.py tests/e2e/faults/test_postgres_restart.py
             tests/e2e/faults/test_limiter_accuracy.py tests/e2e/faults/test_auth_failover.py)
# The tests' OTLP receiver: in the load balancer container's network namespace (where the
# tests run), on all its addresses; the containers reach it as lb:$OTLP_PORT.
OTLP_PORT=4318
# The fault tests' own gateway (the fault stack's rate-limit policies), sharing the load
# balancer container's network namespace: the tests' per-client loopback addresses reach it
# too. The tests' other extra containers (second gateways, the security suite's services)
# share it the same way (devstack.testkit.compose_replicas); all carry REPLICA_LABEL.
FAULT_GATEWAY_PORT=3100 FAULT_GATEWAY_METRICS_PORT=9200
REPLICA_LABEL=io.authstack.netns-guest

log() { printf '\e[1mtest-compose:\e[0m %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
declare -a TIMES=()
PHASE=""
phase_start() { PHASE=$1; PHASE_T0=$EPOCHREALTIME; log "== $PHASE"; }
phase_end() {  # $1: a note such as "(failed)"
    TIMES+=("$(awk -v p="$PHASE" -v a="$PHASE_T0" -v b="$EPOCHREALTIME" -v n="${1:-}" \
        'BEGIN { printf "%-14s %6.1fs %s", p, b - a, n }')"); PHASE=""
}

# --- host ----------------------------------------------------------------------------------
phase_start "host prep"
if ! infra/ci/prepare-podman.sh --check engine; then
    if [[ $(id -u) == 0 && -r /etc/debian_version ]]; then
        infra/ci/prepare-podman.sh engine
    else
        command -v podman >/dev/null || die "podman is not installed (run infra/ci/prepare-podman.sh as root on Debian)"
        log "podman is not configured as infra/ci/prepare-podman.sh would; trying anyway"
    fi
fi
phase_end

phase_start "base image"
if ! podman image exists "$BASE_IMAGE"; then
    if [[ $(id -u) == 0 && -r /etc/debian_version ]]; then
        infra/ci/prepare-podman.sh base
    else
        die "base image $BASE_IMAGE missing (podman pull it, or run infra/ci/prepare-podman.sh base as root)"
    fi
fi
phase_end

# --- teardown, armed before anything is created ----------------------------------------------
WORK=$(mktemp -d /tmp/authstack-compose.XXXXXX)
COMPOSE=(uv run --frozen podman-compose -p "$PROJECT" -f deploy/compose.yml --env-file "$WORK/.env")

our_containers() { podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'; }

dump_failures() {
    log "containers:"
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --format '  {{.Names}}\t{{.Status}}' >&2 || true
    local name status code health shown=0
    for name in $(our_containers); do
        status=$(podman inspect -f '{{.State.Status}}' "$name" 2>/dev/null || echo gone)
        code=$(podman inspect -f '{{.State.ExitCode}}' "$name" 2>/dev/null || echo 0)
        health=ok
        if [[ $status == running ]] && podman inspect -f '{{.Config.Healthcheck}}' "$name" | grep -q CMD \
                && ! podman healthcheck run "$name" >/dev/null 2>&1; then
            health=unhealthy
        fi
        if [[ $status != running && $code != 0 ]] || [[ $status != running && $status != exited ]] \
                || [[ $health != ok ]]; then
            log "---- $name ($status, exit $code, $health): last 40 log lines"
            podman logs --tail 40 "$name" >&2 2>&1 || true
            shown=1
        fi
    done
    if [[ $shown == 0 ]]; then  # nothing obviously broken: show the gateway and its upstreams
        for name in $(our_containers | grep -E '_lb_|gateway|auth-service|user-service'); do
            log "---- $name: last 20 log lines"; podman logs --tail 20 "$name" >&2 2>&1 || true
        done
    fi
}

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $PHASE ]] && phase_end "(failed)"
    if ((rc != 0)) && [[ -f $WORK/.env ]]; then dump_failures; fi
    if [[ ${KEEP_STACK:-} == 1 ]]; then
        log "KEEP_STACK=1: leaving $PROJECT up (env in $WORK); stop it with: ${COMPOSE[*]} down -v"
    else
        phase_start "teardown"
        # Containers first, with their anonymous volumes (podman-compose's `rm` keeps those),
        # selected by the compose project label, never by a broad name.
        # The replicas first (the fault gateway too): they share the balancer's network namespace.
        podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" \
            --filter "label=$REPLICA_LABEL" | xargs -r podman rm -f -t 5 >/dev/null 2>&1 || true
        local ours; ours=$(our_containers)
        [[ -n $ours ]] && podman rm -f -v -t 10 $ours >/dev/null 2>&1
        [[ -f $WORK/.env ]] && timeout 180 "${COMPOSE[@]}" down -v >/dev/null 2>&1 || true
        podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" \
            | xargs -r podman volume rm -f >/dev/null 2>&1 || true
        podman network ls -q --filter "label=io.podman.compose.project=$PROJECT" \
            | xargs -r podman network rm -f >/dev/null 2>&1 || true
        rm -rf "$WORK"
        [[ -z $(our_containers) ]] || log "WARNING: containers of $PROJECT still present"
        phase_end
    fi
    log "phase times:"; printf '  %s\n' "${TIMES[@]}" >&2
    ((rc == 0)) && log "PASSED" || log "FAILED (exit $rc)"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- images ----------------------------------------------------------------------------------
phase_start "builds"
build_args=(--format docker --build-arg "BASE_IMAGE=$BASE_IMAGE")
[[ -s /etc/ssl/certs/ca-certificates.crt ]] \
    && build_args+=(--secret id=hostca,src=/etc/ssl/certs/ca-certificates.crt)
build() {  # name:dir[:ARG=value,...]
    local name dir args pairs=() extra=()
    IFS=: read -r name dir args <<<"$1"
    IFS=, read -ra pairs <<<"$args"
    for arg in "${pairs[@]}"; do extra+=(--build-arg "$arg"); done
    if ! podman build "${build_args[@]}" "${extra[@]}" -f "$dir/Dockerfile" \
            -t "localhost/authstack/$name:latest" . \
            >"$WORK/build-$name.log" 2>&1; then
        log "image $name failed to build ($dir/Dockerfile); last 30 lines:"
        tail -n 30 "$WORK/build-$name.log" >&2
        return 1
    fi
    log "built localhost/authstack/$name"
}
# Infra images in parallel; the Python images one after another, so the 2nd and 3rd reuse
# the 1st one's cached builder layers (apt, uv).
pids=()
for spec in "${IMAGES[@]:0:3}"; do build "$spec" & pids+=($!); done
failed=0
for spec in "${IMAGES[@]:3}"; do build "$spec" || { failed=1; break; }; done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
((failed == 0)) || die "image build failed"
phase_end

# --- throwaway secrets -------------------------------------------------------------------------
port=${COMPOSE_GATEWAY_PORT:-3000}
if [[ -z ${COMPOSE_GATEWAY_PORT:-} ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    port=$(uv run --frozen python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log "port 3000 is taken; publishing the load balancer on 127.0.0.1:$port"
fi
mkdir -p "$WORK/jwt-keys"
JWT_KEYS_DIR="$WORK/jwt-keys" uv run --frozen python -c \
    'import os, pathlib; from auth_service.keys import ensure_keys; ensure_keys(pathlib.Path(os.environ["JWT_KEYS_DIR"]), "RS256")' \
    >/dev/null
chown -R 10001:10001 "$WORK/jwt-keys" 2>/dev/null || chmod -R a+rwX "$WORK/jwt-keys"
secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40; }
cat >"$WORK/.env" <<ENV
INTERNAL_API_TOKEN=$(secret)
THROTTLE_SECRET=$(secret)
MFA_ENCRYPTION_KEYS=ci-1:$(head -c 32 /dev/urandom | base64)
POSTGRES_PASSWORD=$(secret)
REDIS_ADMIN_PASSWORD=$(secret)
REDIS_REPLICATION_PASSWORD=$(secret)
REDIS_GATEWAY_PASSWORD=$(secret)
REDIS_AUTH_SERVICE_PASSWORD=$(secret)
REDIS_USER_SERVICE_PASSWORD=$(secret)
JWT_KEYS_HOST_DIR=$WORK/jwt-keys
GATEWAY_PUBLISH=127.0.0.1:$port
BASE_IMAGE=$BASE_IMAGE
OTEL_EXPORTER_OTLP_ENDPOINT=http://lb:$OTLP_PORT
OTEL_BSP_SCHEDULE_DELAY=100
GATEWAY_RATE_LIMIT_ROUTES=/restart-probe=5/3600
PUBLIC_BASE_URL=http://127.0.0.1:$port
ENV

# --- up ----------------------------------------------------------------------------------------
phase_start "up to healthy"
# Stale containers of an interrupted earlier run would keep old secrets: start clean.
[[ -z $(our_containers) ]] || timeout 180 "${COMPOSE[@]}" down -v >/dev/null 2>&1 || true
# --no-deps: podman 4.3 cannot start a container whose --requires chain passes through an
# exited one-shot job ("depends on container ... not found in input list"). Order does not
# matter for correctness: every container waits for its dependencies itself, and the jobs'
# success is checked below.
if ! timeout "$UP_TIMEOUT" "${COMPOSE[@]}" up -d --no-deps >"$WORK/up.log" 2>&1; then
    tail -n 30 "$WORK/up.log" >&2
    die "podman-compose up failed or took more than ${UP_TIMEOUT}s"
fi
url="http://127.0.0.1:$port"
job_state() { podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_$1_1" 2>/dev/null; }
job_started() { podman inspect -f '{{.State.StartedAt}}' "${PROJECT}_$1_1" 2>/dev/null; }
declare -A JOB_RUN_BEFORE=()  # a job's StartedAt that does not count (the run before a restart)
jobs_done() {  # the one-shot jobs finished successfully (migrate may be retrying: not yet)
    local job state ok=0
    for job in redis-cluster-init migrate; do
        state=$(job_state "$job") || die "job $job has no container"
        if [[ -n ${JOB_RUN_BEFORE[$job]:-} && $(job_started "$job") == "${JOB_RUN_BEFORE[$job]}" ]]; then
            ok=1; continue  # not started again yet
        fi
        [[ $state == "exited 0" ]] && continue
        ok=1
        # The cluster job never restarts: a failure is final.
        [[ $job == redis-cluster-init && $state == exited* ]] && die "job $job failed ($state)"
    done
    return $ok
}
GATEWAYS=(gateway-1 gateway-2)  # behind the load balancer (deploy/compose.yml)
gateways_ready() {  # each gateway itself, and the balancer in front of them
    local gateway
    for gateway in "${GATEWAYS[@]}"; do
        podman exec "${PROJECT}_${gateway}_1" python -c \
            "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health/ready', timeout=3)" \
            >/dev/null 2>&1 || return 1
    done
    curl -fsS -o /dev/null --max-time 3 "$url/health/ready"
}
wait_ready() {  # jobs done, gateways ready, every container's healthcheck passing once
    local deadline=$((SECONDS + UP_TIMEOUT)) name
    until jobs_done && gateways_ready; do
        ((SECONDS < deadline)) || die "stack not ready within ${UP_TIMEOUT}s (jobs: cluster $(job_state redis-cluster-init), migrate $(job_state migrate); gateways ${GATEWAYS[*]} and $url/health/ready)"
        sleep 2
    done
    for name in $(our_containers); do  # podman 4.3 runs no health timers: run each check once
        if podman inspect -f '{{.State.Status}}' "$name" | grep -q running \
                && podman inspect -f '{{.Config.Healthcheck}}' "$name" | grep -q CMD; then
            podman healthcheck run "$name" >/dev/null || die "container $name is unhealthy"
        fi
    done
}
wait_ready
log "stack ready at $url"
phase_end

# --- tests -------------------------------------------------------------------------------------
# Every e2e client binds its own source address in 127.0.0.0/8 (its own rate-limit bucket).
# Through the published port those connections are DNATed and masqueraded by podman (and
# only 127.0.0.1 is), so the tests run inside the load balancer container's network
# namespace instead: there its loopback is nginx's, nginx sees each client's address as its
# socket peer and passes it to the gateways in X-Forwarded-For (which they believe from the
# balancer only). The published port was checked above (readiness).
# The fault helpers' podman calls go back to this script's (the host's) namespace.
in_lb_netns=0
[[ $(id -u) == 0 ]] && command -v nsenter >/dev/null && in_lb_netns=1
lb_netns() {
    local pid; pid=$(podman inspect -f '{{.State.Pid}}' "${PROJECT}_lb_1")
    echo "/proc/$pid/ns/net"
}
export E2E_COMPOSE_PROJECT=$PROJECT E2E_PODMAN_NETNS=/proc/$$/ns/net
E2E_POSTGRES_PASSWORD=$(sed -n 's/^POSTGRES_PASSWORD=//p' "$WORK/.env"); export E2E_POSTGRES_PASSWORD
E2E_REDIS_ADMIN_PASSWORD=$(sed -n 's/^REDIS_ADMIN_PASSWORD=//p' "$WORK/.env"); export E2E_REDIS_ADMIN_PASSWORD
# The capture server's Maildir, read by the tests (the `mail_dir` fixture) on the host.
E2E_MAIL_DIR=$(podman volume inspect -f '{{.Mountpoint}}' "${PROJECT}_mail-data" 2>/dev/null || true)
export E2E_MAIL_DIR
PYTEST=(uv run --frozen pytest -p no:cacheprovider -p devstack.testkit.compose_target)

# Each phase is a pytest session of its own on the same stack: it takes client addresses
# from a block of its own (E2E_CLIENT_ADDRESS_BLOCK, devstack.testkit.compose_target), so
# no test meets an earlier phase's rate-limit or login-throttle state for its address.
phase_start "tests"
if ((in_lb_netns)); then
    E2E_GATEWAY_URL=http://127.0.0.1:3000 E2E_OTLP_LISTEN=0.0.0.0:$OTLP_PORT E2E_CLIENT_ADDRESS_BLOCK=0 \
        nsenter "--net=$(lb_netns)" "${PYTEST[@]}" tests/e2e --ignore=tests/e2e/security \
        -m "not fault" ${PYTEST_ARGS:-} \
        || die "e2e tests failed against the compose stack"
else
    log "WARNING: not root: tests go through the published port (per-IP buckets will not work," \
        "no span receiver, no replicas, no security, fault or restart phases)"
    E2E_GATEWAY_URL=$url "${PYTEST[@]}" tests/e2e --ignore=tests/e2e/security -m "not fault" \
        ${PYTEST_ARGS:-} || die "e2e tests failed against the compose stack"
fi
phase_end

# The security suite on stacks of its own settings (replica containers, stack_starter),
# after the main suite: its own stacks share the compose Redis, and its clients without a
# bound address (schemathesis, 127.0.0.1) leave login-throttle counters that the compose
# auth service would otherwise meet in the browser tests (also 127.0.0.1).
if ((in_lb_netns)) && [[ ${COMPOSE_SECURITY:-1} != 0 ]]; then
    phase_start "security"
    E2E_GATEWAY_URL=http://127.0.0.1:3000 E2E_OTLP_LISTEN=0.0.0.0:$OTLP_PORT E2E_CLIENT_ADDRESS_BLOCK=1 \
        nsenter "--net=$(lb_netns)" "${PYTEST[@]}" tests/e2e/security -m "not fault" \
        ${PYTEST_ARGS:-} || die "security tests failed against the compose stack"
    phase_end
fi

if ((in_lb_netns)) && [[ ${COMPOSE_FAULTS:-1} != 0 ]]; then
    phase_start "fault tests"
    # A second gateway with the fault stack's policies (tests/e2e/faults/conftest.py FAULT_ENV:
    # an unlimited default bucket, a strict /probe), otherwise configured as the gateway.
    fault_gw=${PROJECT}_gateway-faults_1
    podman inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "${PROJECT}_gateway-1_1" \
        | uv run --frozen python -c '
import runpy, sys
env = dict(line.split("=", 1) for line in sys.stdin.read().splitlines() if "=" in line)
env.update(runpy.run_path("tests/e2e/faults/conftest.py")["FAULT_ENV"]["gateway"])
# It shares the load balancer container network namespace: its own public and metrics ports.
env.update(PORT=sys.argv[1], METRICS_PORT=sys.argv[2], OTEL_SDK_DISABLED="true")
print("\n".join(f"{k}={v}" for k, v in env.items()))' "$FAULT_GATEWAY_PORT" "$FAULT_GATEWAY_METRICS_PORT" \
        >"$WORK/fault-gateway.env"
    pod=$(podman inspect -f '{{.Pod}}' "${PROJECT}_lb_1")  # podman-compose's pod, if any
    podman run -d --name "$fault_gw" --label "io.podman.compose.project=$PROJECT" --label "$REPLICA_LABEL=1" \
        ${pod:+--pod "$pod"} --network "container:${PROJECT}_lb_1" \
        --env-file "$WORK/fault-gateway.env" \
        --no-healthcheck "localhost/authstack/gateway:latest" >/dev/null
    netns=$(lb_netns) deadline=$((SECONDS + 60))
    until nsenter "--net=$netns" curl -fsS -o /dev/null --max-time 3 \
            "http://127.0.0.1:$FAULT_GATEWAY_PORT/health/ready"; do
        ((SECONDS < deadline)) || { podman logs --tail 30 "$fault_gw" >&2; die "fault gateway not ready"; }
        sleep 1
    done
    E2E_GATEWAY_URL=http://127.0.0.1:$FAULT_GATEWAY_PORT E2E_COMPOSE_GATEWAY=$fault_gw E2E_CLIENT_ADDRESS_BLOCK=2 \
        nsenter "--net=$netns" "${PYTEST[@]}" "${FAULT_TESTS[@]}" -m fault ${PYTEST_ARGS:-} \
        || die "fault tests failed against the compose stack"
    podman rm -f -t 5 "$fault_gw" >/dev/null
    phase_end
fi

# After the fault phase the (idle) main gateways find the moved Redis containers again by
# itself (a failed readiness PING re-reads the slot map); `save` waits for that, then
# exhausts a bucket of /restart-probe (5 per hour, GATEWAY_RATE_LIMIT_ROUTES above) that
# `check` finds still exhausted after the restart.
if ((in_lb_netns)) && [[ ${COMPOSE_RESTART:-1} != 0 ]]; then
    phase_start "stop/start"
    redis_ips() {
        local i
        for i in 1 2 3 4 5 6; do
            podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
                "${PROJECT}_redis-${i}_1"
        done | paste -sd' '
    }
    # Each gateway behind the balancer (its edge address, reached from the balancer's
    # namespace): every one must limit with Redis, not only the one a probe reaches.
    read -ra gateway_urls <<<"$(podman inspect -f '{{range .Config.Env}}{{println .}}{{end}}' \
        "${PROJECT}_lb_1" | sed -n 's/^LB_UPSTREAMS=//p' | sed -E 's#([^ ]+)#http://\1#g')"
    ((${#gateway_urls[@]} == ${#GATEWAYS[@]})) || die "no gateway addresses in the lb's LB_UPSTREAMS"
    nsenter "--net=$(lb_netns)" uv run --frozen python -m devstack.testkit.compose_restart \
        save http://127.0.0.1:3000 "$WORK/restart.json" "${gateway_urls[@]}" || die "could not prepare the restart check"
    before=$(redis_ips)
    for job in redis-cluster-init migrate; do JOB_RUN_BEFORE[$job]=$(job_started "$job"); done
    timeout 180 "${COMPOSE[@]}" stop >"$WORK/stop.log" 2>&1 || { tail -n 20 "$WORK/stop.log" >&2; die "podman-compose stop failed"; }
    [[ -z $(podman ps -q --filter "label=io.podman.compose.project=$PROJECT") ]] \
        || die "containers still running after podman-compose stop"
    timeout 180 "${COMPOSE[@]}" start >"$WORK/start.log" 2>&1 || { tail -n 20 "$WORK/start.log" >&2; die "podman-compose start failed"; }
    wait_ready
    after=$(redis_ips)
    log "redis node addresses before: $before; after: $after"
    nsenter "--net=$(lb_netns)" uv run --frozen python -m devstack.testkit.compose_restart \
        check http://127.0.0.1:3000 "$WORK/restart.json" "${gateway_urls[@]}" || die "state did not survive the restart"
    phase_end

    # All six Redis containers at once, and no job run (as a host reboot with restart
    # policies does): each node converges the cluster at its own start (node-entrypoint.sh).
    phase_start "redis restart"
    before=$(redis_ips)
    podman restart -t 5 $(for i in 1 2 3 4 5 6; do echo "${PROJECT}_redis-${i}_1"; done) \
        >"$WORK/redis-restart.log" 2>&1 || { tail -n 20 "$WORK/redis-restart.log" >&2; die "podman restart of the Redis containers failed"; }
    deadline=$((SECONDS + UP_TIMEOUT))
    until gateways_ready; do
        ((SECONDS < deadline)) || { for i in 1 2 3 4 5 6; do podman logs --tail 15 "${PROJECT}_redis-${i}_1" >&2; done; die "gateways not ready within ${UP_TIMEOUT}s after the Redis restart"; }
        sleep 2
    done
    after=$(redis_ips)
    log "redis node addresses before: $before; after: $after"
    nsenter "--net=$(lb_netns)" uv run --frozen python -m devstack.testkit.compose_restart \
        check http://127.0.0.1:3000 "$WORK/restart.json" "${gateway_urls[@]}" || die "state did not survive the Redis restart"
    phase_end
fi
