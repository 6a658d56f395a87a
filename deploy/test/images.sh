#!/bin/bash
# The images `make deploy-test` runs, built with podman once per machine and reused:
#   localhost/rucnet-test/debian:bookworm   debootstrap --variant=minbase from Debian's mirror
#   localhost/rucnet-test/python:3.11       stand-in for ${PYTHON_IMAGE} (Debian's python3)
#   localhost/rucnet-test/kafka:4.1.1       stand-in for apache/kafka:4.1.1 (Maven Central jars)
#   localhost/rucnet-test/postgres:15       stand-in for postgres:17 (Debian's postgresql-15)
#   localhost/rucnet-test/prometheus:2      stand-in for prom/prometheus (Debian's prometheus)
# A stand-in is rebuilt only when its folder under deploy/test/standins changes (a hash label).
# The rucnet images are then built from the project's unchanged Dockerfile on every run (podman's
# layer cache keeps the dependency layer while requirements.lock is unchanged).
#
# No registry is reachable here, and TLS to the package registries is re-signed by the host's
# extra CAs: the build gets the host's CA bundle as a build *secret* (never a layer of the image).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STANDINS="$ROOT/deploy/test/standins"
CACHE="${RUCNET_DEPLOY_TEST_CACHE:-/var/tmp/rucnet-deploy-test}"
CA_BUNDLE="${RUCNET_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
MIRROR="${RUCNET_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TAG="${RUCNET_VERSION:-deploy-test}"
mkdir -p "$CACHE"

log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*"; }
hash_of() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
current() {  # the image exists and was built from this content
    [ "$(podman image inspect --format '{{index .Labels "rucnet.standin"}}' "$1" 2>/dev/null)" = "$2" ]
}

base=localhost/rucnet-test/debian:bookworm
if ! podman image exists "$base"; then
    log "debootstrap bookworm (minbase) from $MIRROR"
    rm -rf "$CACHE/rootfs"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$MIRROR" >"$CACHE/debootstrap.log"
    rm -rf "$CACHE"/rootfs/var/cache/apt/archives/*.deb "$CACHE"/rootfs/var/lib/apt/lists/*
    tar -C "$CACHE/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
    rm -rf "$CACHE/rootfs"
fi

build_standin() {  # name tag [extra context preparation]
    local name=$1 image=$2 context="$STANDINS/$1" hash
    hash=$(hash_of "$context")
    if current "$image" "$hash"; then return; fi
    log "building $image"
    if [ "$name" = kafka ]; then  # the jars, copied on the host where Maven's CA is the host's
        context="$CACHE/kafka-context"
        rm -rf "$context" && cp -r "$STANDINS/kafka" "$context"
        mvn -B -q -f "$context/pom.xml" \
            org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$context/lib"
    fi
    podman build -q --label "rucnet.standin=$hash" -t "$image" -f "$context/Containerfile" "$context" >/dev/null
}
build_standin python localhost/rucnet-test/python:3.11
build_standin postgres localhost/rucnet-test/postgres:15
build_standin prometheus localhost/rucnet-test/prometheus:2
build_standin kafka localhost/rucnet-test/kafka:4.1.1

# The build stage is tagged too: untagged, its layers (the dependencies) would be pruned as
# dangling and the next run would install every dependency again.
for target in build runtime intake classifier aggregator; do
    log "building rucnet/$target:$TAG"
    podman build -q --format docker -f "$ROOT/deploy/docker/Dockerfile" --target "$target" \
        --build-arg PYTHON_IMAGE=localhost/rucnet-test/python:3.11 \
        --secret "id=ca_bundle,src=$CA_BUNDLE" \
        --ignorefile "$ROOT/deploy/docker/Dockerfile.dockerignore" \
        -t "rucnet/$target:$TAG" "$ROOT" >/dev/null
done
# Earlier runs' rucnet layers, once a week old; younger ones are the build cache of the next run.
podman image prune -f --filter until=168h >/dev/null 2>&1 || true
log "images ready"
