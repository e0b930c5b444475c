#!/usr/bin/env bash
# Prepare a Debian (bookworm) host to build and run the compose stack with rootful Podman.
# Idempotent: every step checks first and does nothing when already done.
#
#   infra/ci/prepare-podman.sh [all]          # engine + configuration + base image
#   infra/ci/prepare-podman.sh engine|base    # only that part
#   infra/ci/prepare-podman.sh --check [engine|base|all]   # exit 0 if nothing is missing
#
# Why each setting (see issue 6): crun fails on hybrid cgroups here, so runc; the host lacks
# CAP_SYS_RESOURCE, so containers must not ask for the engine's default (higher) ulimits; no
# registry is reachable, so the base image is debootstrapped and imported under the name the
# Dockerfiles use (BASE_IMAGE=debian:bookworm-slim).
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
SUITE=${DEBIAN_SUITE:-bookworm}
CONF=/etc/containers/containers.conf
# dnsname: container names resolve on compose networks (CNI backend of podman 4.3).
PACKAGES=(podman runc debootstrap golang-github-containernetworking-plugin-dnsname)

log() { echo "prepare-podman: $*" >&2; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

conf_ok() {
    [[ -f $CONF ]] && grep -qE '^\s*runtime\s*=\s*"runc"' "$CONF" \
        && grep -qE '^\s*default_ulimits\s*=' "$CONF"
}

base_ok() { command -v podman >/dev/null && podman image exists "$BASE_IMAGE"; }

engine_ok() { [[ -z $(missing_packages) ]] && conf_ok; }

if [[ ${1:-} == --check ]]; then
    case ${2:-all} in
        engine) engine_ok ;;
        base) base_ok ;;
        *) engine_ok && base_ok ;;
    esac
    exit $?
fi
what=${1:-all}

[[ $(id -u) == 0 ]] || { log "must run as root (rootful podman)"; exit 1; }
[[ -r /etc/debian_version ]] || { log "only Debian hosts are supported"; exit 1; }

if [[ $what != base ]]; then
mapfile -t missing < <(missing_packages)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! conf_ok; then
    log "configuring $CONF (runtime=runc, default_ulimits)"
    mkdir -p "$(dirname "$CONF")"
    [[ -f $CONF ]] && cp -n "$CONF" "$CONF.orig"
    # A fresh file: Debian ships none, and a second [engine] table would be invalid TOML.
    if [[ -f $CONF ]] && grep -qE '^\s*\[(engine|containers)\]' "$CONF"; then
        log "$CONF already has [engine]/[containers] tables; add by hand:"
        log '  [containers] default_ulimits = ["nofile=10240:10240", "nproc=4096:4096"]'
        log '  [engine] runtime = "runc"'
        exit 1
    fi
    cat >>"$CONF" <<'CONFEOF'
# Written by infra/ci/prepare-podman.sh (authstack): see issue 6.
[containers]
default_ulimits = ["nofile=10240:10240", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONFEOF
fi
fi

if [[ $what != engine ]] && ! base_ok; then
    log "building $BASE_IMAGE with debootstrap ($SUITE, minbase)"
    root=$(mktemp -d /tmp/authstack-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase "$SUITE" "$root" >/dev/null
    # Keep the image slim like the official one: no apt lists or caches.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    tar -C "$root" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
fi

log "ready: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}'), base $BASE_IMAGE"
