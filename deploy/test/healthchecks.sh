#!/bin/bash
# Podman runs a container's health check from a systemd timer; without systemd (CI VMs) nothing
# runs it, the status stays "starting" and compose's `condition: service_healthy` waits for ever.
# This loop is that timer for one compose project: every INTERVAL seconds, each running container
# with a health check is checked (side by side: Kafka's check starts a JVM).
set -uo pipefail
PROJECT="${1:?usage: healthchecks.sh COMPOSE_PROJECT [INTERVAL]}"
INTERVAL="${2:-10}"
while true; do
    for id in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
        podman healthcheck run "$id" >/dev/null 2>&1 &
    done
    wait
    sleep "$INTERVAL"
done
