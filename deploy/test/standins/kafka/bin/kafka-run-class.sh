#!/bin/bash
# java with Kafka's classpath: the broker logs to stdout at INFO, the command-line tools at WARN.
if [ "${1:-}" = "kafka.Kafka" ]; then
    heap="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}" log4j=/opt/kafka/config/log4j2.yaml
else
    heap="-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" log4j=/opt/kafka/config/tools-log4j2.yaml
fi
# shellcheck disable=SC2086  # the heap options are a list
exec java $heap -Djava.awt.headless=true -Dlog4j2.configurationFile="$log4j" \
    -cp "/opt/kafka/libs/*" "$@"
