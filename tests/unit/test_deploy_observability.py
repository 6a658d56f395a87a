"""JSON logs that name the event and report being handled, and the business metrics on /metrics."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

from shared import topics
from shared.broker import batch_records, create_broker, parse_record_or_dead_letter
from shared.db import create_engine
from shared.events import InsatsClassification, ReportClassified, ReportSubmitted
from shared.logging import JsonFormatter, configure_logging, ids_in, log_context
from shared.settings import RucnetSettings
from shared.web import service_app
from tests.conftest import test_settings
from tests.unit.test_schemas import event_json, insats


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log line of the process, formatted as the containers format it."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.handlers, root.level = [handler], logging.INFO
    try:
        yield stream
    finally:
        root.handlers, root.level = saved


class ClassifierSettings(RucnetSettings):
    """Named like the classifier's, so the broker reports app_name="classifier"."""


def classifier_like_broker(tmp_path: Path, sqlite_url: str) -> KafkaBroker:
    """A broker from `create_broker` with a handler shaped like the classifier's: parse, publish."""
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)

    @broker.subscriber(topics.REPORTS_SUBMITTED, group_id="probe-classifier")
    async def handle_report_submitted(msg: KafkaMessage) -> None:
        event = await parse_record_or_dead_letter(broker, batch_records(msg)[0], ReportSubmitted)
        if event is None:
            return
        classified = ReportClassified(
            **event.model_dump(exclude={"event_id", "occurred_at", "schema_version"}),
            submission_event_id=event.event_id,
            classifications=tuple(
                InsatsClassification(
                    ref=i.ref, nsp_area=i.nsp_area or "nyanlanda", source="declared", confidence=1
                )
                for i in event.insatser
            ),
            model_version="probe",
        )
        await broker.publish(classified, topics.REPORTS_CLASSIFIED, key=event.ruc_id.encode())

    return broker


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_line_is_one_json_object_with_the_event_and_report_ids(json_lines: io.StringIO) -> None:
    log = logging.getLogger("rucnet.test")
    event_id, report_id = uuid.uuid4(), uuid.uuid4()
    with log_context(event_id=event_id, report_id=report_id):
        log.warning("handled %s", "it", extra={"topic": "t.v1"})
    log.info("outside")
    inside, outside = parsed(json_lines)
    assert inside["event_id"] == str(event_id)
    assert inside["report_id"] == str(report_id)
    assert inside["msg"] == "handled it"
    assert inside["level"] == "WARNING"
    assert inside["logger"] == "rucnet.test"
    assert inside["topic"] == "t.v1"
    assert str(inside["ts"]).endswith("+00:00")
    assert "event_id" not in outside


def test_an_exception_is_logged_inside_the_json_object(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("rucnet.test").exception("failed")
    (line,) = parsed(json_lines)
    assert "ValueError: boom" in str(line["exc"])


def test_configure_logging_chooses_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.setenv("RUCNET_LOG_FORMAT", "json")
    try:
        configure_logging("INFO")
        logging.getLogger("rucnet.test").info("hello")
    finally:
        root.handlers, root.level = saved
    assert json.loads(capsys.readouterr().out.strip())["msg"] == "hello"


def test_ids_are_read_from_event_bodies_only() -> None:
    assert ids_in(b'{"event_id": "e", "report_id": "r", "x": 1}') == {"event_id": "e", "report_id": "r"}
    assert ids_in(b"{not json") == {}
    assert ids_in(b"[1]") == {}


async def test_a_consumed_event_s_ids_are_on_the_lines_its_handler_writes(
    tmp_path: Path, sqlite_url: str, json_lines: io.StringIO
) -> None:
    broker = classifier_like_broker(tmp_path, sqlite_url)
    event_id, report_id = str(uuid.uuid4()), str(uuid.uuid4())
    poison = json.dumps({"event_id": event_id, "report_id": report_id, "insatser": "not a list"})
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(poison.encode(), topics.REPORTS_SUBMITTED, key=b"gu")
    lines = [line for line in parsed(json_lines) if "dead-lettered" in str(line["msg"])]
    assert len(lines) == 1
    assert lines[0]["event_id"] == event_id
    assert lines[0]["report_id"] == report_id


async def test_the_metrics_endpoint_exposes_the_business_metrics(tmp_path: Path, sqlite_url: str) -> None:
    import services.aggregator.handlers  # noqa: F401  - registers the aggregator's counters
    import services.intake.app  # noqa: F401  - registers reports accepted

    broker = classifier_like_broker(tmp_path, sqlite_url)
    submitted = ReportSubmitted.model_validate(
        event_json(insatser=[insats(), insats(ref="gu-2020-002", nsp_area="elevhalsa", status="completed")])
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(submitted, topics.REPORTS_SUBMITTED, key=b"gu")
        await test_broker.publish(b"{not json", topics.REPORTS_SUBMITTED, key=b"gu")
    engine = create_engine(sqlite_url)
    app = service_app("metrics probe", engine, broker)  # the /metrics every service mounts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/metrics")
    await engine.dispose()
    assert response.status_code == 200
    text = response.text
    for family in (
        "rucnet_reports_accepted_total",
        "rucnet_aggregator_events_total",
        "rucnet_classifications_total",
        "rucnet_overrides_total",
        "rucnet_dead_letters_total",
        "rucnet_consumer_lag",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in text, family
    assert 'rucnet_classifications_total{needs_review="false",nsp_area="elevhalsa",source="declared"}' in text
    assert f'rucnet_dead_letters_total{{topic="{topics.REPORTS_SUBMITTED}"}}' in text
    assert (
        f'faststream_received_messages_total{{app_name="classifier",broker="kafka",handler="{topics.REPORTS_SUBMITTED}"}}'
        in text
    )
