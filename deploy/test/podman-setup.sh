#!/bin/bash
# Podman on a CI VM without systemd, in /etc/containers/containers.conf (written only when it has
# no such settings; a file an administrator wrote is left alone):
# - default_ulimits within the host's hard limits: podman's defaults exceed them here and every
#   container fails with "error setting rlimit type 7 (or 6): operation not permitted";
# - runtime runc when the host mounts cgroups v1 and v2 side by side ("hybrid"), which crun refuses
#   ("cgroups in hybrid mode not supported").
set -euo pipefail
CONF=/etc/containers/containers.conf
cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(cap "$(ulimit -Hn)" 65536) nproc=$(cap "$(ulimit -Hu)" 32768)
mkdir -p "$(dirname "$CONF")"
touch "$CONF"
set_in() {  # table line: add the line to [table], creating the table when the file has none
    if grep -q "^\[$1\]" "$CONF"; then
        sed -i "/^\[$1\]/a $2" "$CONF"
    else
        printf '\n[%s]\n%s\n' "$1" "$2" >> "$CONF"
    fi
}
if ! grep -q '^[[:space:]]*default_ulimits' "$CONF"; then
    set_in containers "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
fi
if [ -d /sys/fs/cgroup/unified ] && ! grep -q '^[[:space:]]*runtime[[:space:]]*=' "$CONF"; then
    set_in engine 'runtime = "runc"'
fi
