#!/bin/bash
# One-shot topic creation, run by the `kafka-topics` service in docker-compose.yml.
# Idempotent (--if-not-exists): safe at every `docker compose up`. Existing topics are left alone;
# to add partitions later see docs/operations.md ("Scaling out").
#
# The event topics are the system's log: the aggregator's tables can be rebuilt by replaying them,
# so they keep every message for ever (retention.ms=-1, cleanup.policy=delete). Compaction would
# keep only the latest message per key (per RUC), which is not a replayable history.
set -euo pipefail

: "${KAFKA_BOOTSTRAP:?}" "${TOPICS:?}"
PARTITIONS="${PARTITIONS:-6}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"
MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-1}"
ATTEMPTS="${ATTEMPTS:-60}"
KAFKA_TOPICS=/opt/kafka/bin/kafka-topics.sh

for topic in ${TOPICS}; do
    attempt=1
    # With three brokers the others may still be joining: retry until enough replicas exist.
    until "$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP" --create --if-not-exists \
        --topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR" \
        --config retention.ms=-1 --config retention.bytes=-1 --config cleanup.policy=delete \
        --config min.insync.replicas="$MIN_INSYNC_REPLICAS"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "could not create $topic after $attempt attempts" >&2
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep 5
    done
done
"$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP" --describe --topics-with-overrides
echo "topics ready: ${TOPICS}"
