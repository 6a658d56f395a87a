"""Dead letters: read them back, and re-publish their original payloads once the cause is fixed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from sqlalchemy import BigInteger, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared import topics
from shared.db import UtcDateTime
from shared.events import DeadLetter, utcnow
from shared.topic_reader import TopicReader


class DeadLetterReplay(SQLModel, table=True):
    """A dead letter whose payload was re-published: each is replayed once."""

    __tablename__ = "dead_letter_replay"

    dead_letter_id: str = Field(primary_key=True, max_length=36)
    topic: str = Field(max_length=200)
    partition: int
    offset: int = Field(sa_type=BigInteger)
    replayed_at: dt.datetime = Field(sa_type=UtcDateTime)


replays: Table = DeadLetterReplay.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Letter:
    letter: DeadLetter
    replayed_at: dt.datetime | None

    @property
    def origin(self) -> tuple[str, int, int]:
        return self.letter.topic, self.letter.partition, self.letter.offset


async def read_letters(bootstrap: str) -> list[DeadLetter]:
    """The whole dead-letter topic, oldest first per partition (a throwaway, group-less consumer)."""
    letters = []
    async with TopicReader(bootstrap, (topics.DEAD_LETTERS,), idle_ms=300) as reader:
        async for batch in reader.batches():
            for message in batch:
                try:
                    letters.append(DeadLetter.model_validate_json(message.value or b""))
                except ValidationError:
                    continue  # not ours: nothing to replay from it
    return letters


async def list_letters(engine: AsyncEngine, bootstrap: str) -> list[Letter]:
    letters = await read_letters(bootstrap)
    async with engine.connect() as conn:
        done = {r.dead_letter_id: r.replayed_at for r in await conn.execute(select(replays))}
    return [Letter(letter, done.get(str(letter.event_id))) for letter in letters]


LEGACY_CUT = 100_000  # letters parked before payload_complete was recorded were cut at this length


def incomplete(letter: DeadLetter) -> bool:
    """Its payload is not the original message: replaying it would publish something else."""
    if letter.payload_complete is not None:
        return not letter.payload_complete
    return len(letter.payload) >= LEGACY_CUT


def choose(
    letters: Sequence[Letter], ids: Sequence[str], replay_all: bool
) -> tuple[list[Letter], list[Letter]]:
    """The letters to replay (not replayed before, one per original message: its first letter),
    and those refused because their payload was cut (they stay unreplayed, listed)."""
    wanted = [x for x in letters if replay_all or str(x.letter.event_id) in ids]
    chosen: list[Letter] = []
    refused: list[Letter] = []
    origins = {x.origin for x in letters if x.replayed_at is not None}
    for letter in wanted:
        if letter.replayed_at is None and letter.origin not in origins:
            origins.add(letter.origin)
            (refused if incomplete(letter.letter) else chosen).append(letter)
    return chosen, refused


async def replay(
    engine: AsyncEngine,
    bootstrap: str,
    chosen: Sequence[Letter],
    advance: Callable[[], None] | None = None,
) -> int:
    """Publish each original payload to its original topic and key, then record the letter as replayed.

    Recorded after the broker's ack: a crash in between replays it again, which the consumers dedupe.
    One message at a time, acknowledged before the next: no idempotent producer is needed, so it
    works on Apache Kafka and on the embedded Tansu (which has none) alike.
    """
    assert not any(incomplete(x.letter) for x in chosen), "a cut payload is never replayed"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for item in chosen:
            letter = item.letter
            key = letter.key.encode() if letter.key is not None else None
            await producer.send_and_wait(letter.topic, letter.payload.encode(), key=key)
            async with engine.begin() as conn:
                await conn.execute(
                    replays.insert().values(
                        dead_letter_id=str(letter.event_id),
                        topic=letter.topic,
                        partition=letter.partition,
                        offset=letter.offset,
                        replayed_at=utcnow(),
                    )
                )
            if advance:
                advance()
    finally:
        await producer.stop()
    return len(chosen)
