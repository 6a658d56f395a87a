#!/bin/bash
# As apache/kafka's entrypoint: every KAFKA_* variable (except the JVM's) becomes a line of
# server.properties (KAFKA_LOG_DIRS -> log.dirs; `__` -> `_`, `___` -> `-`), the storage is
# formatted with CLUSTER_ID unless it already holds data, then the broker starts.
set -euo pipefail
: "${CLUSTER_ID:?CLUSTER_ID is required}"
props=/opt/kafka/config/server.properties
: > "$props"
for name in $(compgen -e | sort); do
    case "$name" in
        KAFKA_VERSION | KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JMX_* | KAFKA_LOG4J_* | KAFKA_JVM_* | KAFKA_GC_*) continue ;;
        KAFKA_*) ;;
        *) continue ;;
    esac
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//___/-}"
    key="${key//__/@}"
    key="${key//_/.}"
    key="${key//@/_}"
    printf '%s=%s\n' "$key" "${!name}" >> "$props"
done
/opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$props" --ignore-formatted
exec /opt/kafka/bin/kafka-server-start.sh "$props"
