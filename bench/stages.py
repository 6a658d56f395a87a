"""Each stage's ceiling alone, on the same reports, one stage after another on one database:

1. intake accepting them (HTTP → receipt and outbox row committed; its relay held back);
2. intake's relay publishing the stored outbox rows to the broker (acks=all);
3. the classifier alone on the filled ``reports.submitted`` (bulk scoring in its worker process,
   store, publish);
4. the aggregator alone on the filled ``reports.classified`` (and the submissions it records).

A consumer's rate is taken from its first committed batch to its last, so its start-up and group
join are not in it (a steady-state ceiling); the two intake stages are timed whole.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from common import bearer, database, running, settings_kw, tokens_by_ruc
from servers import Bench
from timed import cpu_seconds, reset, shares, timed
from workload import Probe, classified, counted, submit_all

from services.aggregator import handlers as aggregator_handlers
from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.classifier import handlers as classifier_handlers
from services.classifier.app import create_app as classifier_app
from services.classifier.scoring import ScoringPool
from services.classifier.settings import ClassifierSettings
from services.intake.app import create_app as intake_app
from services.intake.relay import OutboxRelay
from services.intake.settings import IntakeSettings
from shared.db import create_engine

CLASSIFIER_PARTS = {
    "parse (classifier)": (classifier_handlers, "parse_record_or_dead_letter"),
    "score (worker)": (ScoringPool, "score_batch"),
    "decide": (classifier_handlers, "classified_reports"),
    "store": (classifier_handlers, "record_classified"),
    "publish (acks)": (classifier_handlers, "publish_all"),
}
AGGREGATOR_PARTS = {
    "parse (aggregator)": (aggregator_handlers, "parse_record_or_dead_letter"),
    "apply (before commit)": (aggregator_handlers, "apply_parsed"),
}


@dataclass(frozen=True)
class StageRates:
    """Insatser per second of each stage alone, and where the two consumers' time went."""

    accept: float
    relay: float
    classifier: float
    aggregator: float
    classifier_parts: str = ""
    aggregator_parts: str = ""
    # insatser per second of the stage's own CPU (its process and scoring worker; not the broker's
    # or the database's): its rate alone on one core, whatever else shares the machine
    classifier_cpu: float = float("nan")
    aggregator_cpu: float = float("nan")

    def named(self) -> dict[str, float]:
        return {
            "intake accepting (HTTP → stored)": self.accept,
            "intake's relay (outbox → broker)": self.relay,
            "classifier (score, store, publish)": self.classifier,
            "aggregator (batched apply)": self.aggregator,
        }


async def held_back() -> None:
    """The relay's loop, replaced while intake is measured alone."""
    await asyncio.Event().wait()


async def steady_rate(probe: Probe, target: int, timeout_s: float) -> float:
    """Per second from the first progress ``probe`` shows until it reaches ``target``."""
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    while (value := await probe()) < target:
        if first is None and value > 0:
            first = (time.monotonic(), value)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{value} of {target} in {timeout_s}s")
        await asyncio.sleep(0.01)
    now = time.monotonic()
    if first is None:  # all of it in one batch: no steady state to time
        return float("nan")
    return (target - first[1]) / max(now - first[0], 1e-9)


async def drain_relay(relay: OutboxRelay) -> None:
    while await relay.pass_once():
        pass


async def stage_rates(bench: Bench, bodies: list[dict[str, Any]], **settings: Any) -> StageRates:
    insatser = sum(len(b["insatser"]) for b in bodies)
    await bench.fresh_topics()
    async with database("pg", bench) as url:
        kw = settings_kw(bench, url, **settings)
        intake = intake_app(IntakeSettings(**kw, rate_limit_per_minute=10**9))
        relay: OutboxRelay = intake.state.relay
        relay.run = held_back
        gu = await bearer(url, "ruc", "gu")
        async with running(intake) as (client,):
            by_ruc = await tokens_by_ruc(url, bodies)
            accept = insatser / await submit_all(client, gu, bodies, by_ruc=by_ruc)
            started = time.monotonic()
            await drain_relay(relay)
            relayed = insatser / (time.monotonic() - started)
        engine = create_engine(url)
        try:
            with timed(CLASSIFIER_PARTS) as spent:
                async with running(classifier_app(ClassifierSettings(**kw))):
                    started, spent, cpu = time.monotonic(), reset(spent), cpu_seconds()
                    scored = await steady_rate(classified(engine), insatser, timeout_s=1800)
                    classifier_cpu = insatser / max(cpu_seconds() - cpu, 1e-9)
                    classifier_parts = shares(spent, time.monotonic() - started)
            with timed(AGGREGATOR_PARTS) as spent:
                async with running(aggregator_app(AggregatorSettings(**kw))):
                    started, spent, cpu = time.monotonic(), reset(spent), cpu_seconds()
                    applied = await steady_rate(counted(engine), insatser, timeout_s=1800)
                    aggregator_cpu = insatser / max(cpu_seconds() - cpu, 1e-9)
                    aggregator_parts = shares(spent, time.monotonic() - started)
        finally:
            await engine.dispose()
    return StageRates(
        accept, relayed, scored, applied, classifier_parts, aggregator_parts, classifier_cpu, aggregator_cpu
    )
