#!/bin/bash
# `make deploy-test`: the real docker-compose.yml brought up with podman and docker-compose 1.29
# (podman's Docker API), tested from outside by tests/deploy, then removed with its volumes.
# Steps: podman's settings for this VM, the images (built once per machine, see images.sh),
# podman's API service, a health-check runner, then pytest (which runs compose up/down itself).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${RUCNET_DEPLOY_TEST_CACHE:-/var/tmp/rucnet-deploy-test}"
export RUCNET_DEPLOY_TEST_PROJECT="${RUCNET_DEPLOY_TEST_PROJECT:-rucnet-deploy-test}"
SOCKET="$CACHE/podman.sock"
mkdir -p "$CACHE"
started=$(date +%s)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

"$ROOT/deploy/test/podman-setup.sh"
"$ROOT/deploy/test/images.sh"
built=$(date +%s)

if ! curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
    rm -f "$SOCKET"
    podman system service --time=0 "unix://$SOCKET" >"$CACHE/podman-service.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1 && break
        sleep 0.2
    done
fi
"$ROOT/deploy/test/healthchecks.sh" "$RUCNET_DEPLOY_TEST_PROJECT" 10 &
pids+=($!)

status=0
DOCKER_HOST="unix://$SOCKET" RUCNET_DEPLOY_TEST=1 \
    "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider -o timeout=1800 "$ROOT/tests/deploy" "$@" \
    || status=$?
echo "deploy-test: images $((built - started)) s, tests $(($(date +%s) - built)) s," \
    "total $(($(date +%s) - started)) s (exit $status)"
exit "$status"
