"""A producer the broker fenced off is replaced, with the broker's settings, and sending goes on."""

from __future__ import annotations

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from shared import topics
from shared.broker import create_broker, publish_all, renew_producer
from shared.events import DeadLetter
from shared.settings import RucnetSettings
from tests.integration.ops_support import records_on_topic

pytestmark = pytest.mark.integration


async def test_a_renewed_producer_sends_with_a_new_producer_id(kafka_bootstrap: str) -> None:
    broker = create_broker(RucnetSettings(kafka_bootstrap=kafka_bootstrap))
    await broker.start()
    try:
        letter = DeadLetter(topic="t", partition=0, offset=0, key=None, error="e", payload="p")
        await publish_all(broker, [letter], topics.DEAD_LETTERS, key=lambda _: b"gu")
        before = broker.config.producer._producer.producer  # type: ignore[attr-defined]
        await renew_producer(broker, OutOfOrderSequenceNumber())
        after = broker.config.producer._producer.producer  # type: ignore[attr-defined]
        assert after is not before
        assert after._txn_manager is not None  # idempotent, as the broker was configured
        await publish_all(broker, [letter], topics.DEAD_LETTERS, key=lambda _: b"gu")
    finally:
        await broker.stop()
    assert len(await records_on_topic(kafka_bootstrap, topics.DEAD_LETTERS)) == 2
