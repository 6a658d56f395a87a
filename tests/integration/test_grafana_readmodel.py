"""The reporting views and every dashboard panel's SQL on the real PostgreSQL, 2020 data loaded."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from rucnet.dataset2020 import COMPLETED_2020, COMPLETED_TOTAL_2020, STARTED_2020, STARTED_TOTAL_2020
from rucnet.grafana import sql_panels as q
from rucnet.grafana.dashboards import all_dashboards
from rucnet.grafana.panels import UPDATED
from rucnet.grafana.readmodel import ROLE, VIEWS, refresh_reference
from services.aggregator.attendance import apply_attendance
from services.aggregator.completeness import record_arrival, set_deadline, timeliness
from services.aggregator.queries import national_counts
from services.aggregator.store import apply_events
from services.classifier.store import get_classification, record_classified, record_override
from shared import topics
from shared.db import create_engine, session_factory
from shared.events import (
    AttendanceReported,
    ClassificationOverridden,
    HuvudmanRef,
    MeetingHeld,
    ReportSubmitted,
)
from shared.reference import load_reference
from tests.conftest import _admin, new_pg_database, pg_admin_dsn

PANELS = [
    (name, panel, target)
    for name, board in all_dashboards().items()
    for panel in board["panels"]
    for target in panel["targets"]
    if "rawSql" in target
]
ALL_RUC = ",".join(f"'{r.id}'" for r in load_reference().ruc)


async def load_2020(url: str) -> None:
    """The 2020 round as the aggregator receives it: one transaction per event."""
    from rucnet.dataset2020 import classified_events_2020

    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        for event in classified_events_2020():
            async with sessions.begin() as session:  # one database, as in the deployment
                await record_classified(session, [event])
                await apply_events(session, [(event, topics.REPORTS_CLASSIFIED)])
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def pg_2020() -> Iterator[str]:
    """One migrated database with the 2020 data set for the module's read-only checks."""
    with new_pg_database() as url:
        asyncio.run(load_2020(url))
        yield url


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def substitute(raw: str, **values: str) -> str:
    """What Grafana does to the SQL before sending it (multi-values come quoted and joined)."""
    values = {"year": "2020", "status": "completed", "ruc": ALL_RUC} | values
    sql = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], raw)
    assert "$" not in sql
    return sql


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn(url))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


@pytest.mark.parametrize(("name", "panel", "target"), PANELS, ids=[f"{n}:{p['title']}" for n, p, _ in PANELS])
async def test_every_panel_query_runs_and_says_when_its_data_changed(
    pg_2020: str, name: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    for values in ({}, {"ruc": "'gu'", "status": "started"}):
        rows = await fetch(pg_2020, substitute(target["rawSql"], **values))
        if panel["title"].startswith(("Klassificerat område", "Granskningar per dag")):
            continue  # no analyst has reviewed anything in the data set: these may be empty
        assert rows, f"{panel['title']} returned nothing for {values}"
        assert UPDATED in rows[0].keys()
        assert all(row[UPDATED] is not None for row in rows)


async def test_the_pm_charts_show_the_pm_figures(pg_2020: str) -> None:
    started = await fetch(pg_2020, substitute(q.STARTED_BY_SCHOOL_FORM))
    completed = await fetch(pg_2020, substitute(q.COMPLETED_BY_NSP))
    names = {s.code: s.name_on(dt.date(2020, 1, 1)) for s in load_reference().school_forms}
    assert [(r["Skolform"], r["Påbörjade insatser"]) for r in started] == [
        (names[code], n) for code, n in STARTED_2020.items()
    ]
    assert "Särvux" in [r["Skolform"] for r in started]  # the 2020 name, as in the PM
    table = await fetch(pg_2020, substitute(q.COMPLETED_BY_NSP_TABLE))
    assert {r["Kod"]: r["Genomförda och uppföljda insatser"] for r in table} == COMPLETED_2020
    assert [r["NSP-område"] for r in completed][4] == "Nyanlända och flerspråkiga barns och elevers lärande"
    (figures,) = await fetch(pg_2020, substitute(q.KEY_FIGURES))
    assert figures["Påbörjade insatser"] == STARTED_TOTAL_2020
    assert figures["Genomförda och uppföljda"] == COMPLETED_TOTAL_2020
    assert figures["Summa per skolform"] == sum(STARTED_2020.values()) == 470
    assert figures["Rapporterande RUC"] == 18


async def test_the_nsp_chart_splits_each_area_by_what_it_rests_on(pg_2020: str) -> None:
    """The 2020 set declares every area: each bar is wholly "declared" and the parts add up."""
    table = await fetch(pg_2020, substitute(q.COMPLETED_BY_NSP_TABLE))
    confirmed, declared, unreviewed = q.BASIS_COLUMNS.values()
    assert {r["Kod"]: (r[confirmed], r[declared], r[unreviewed]) for r in table} == {
        code: (0, n, 0) for code, n in COMPLETED_2020.items()
    }
    chart = await fetch(pg_2020, substitute(q.COMPLETED_BY_NSP))
    assert [sum(r[c] for c in q.BASIS_COLUMNS.values()) for r in chart] == list(COMPLETED_2020.values())


async def test_the_views_agree_with_the_national_stats_query(pg_2020: str) -> None:
    engine = create_engine(pg_2020)
    async with session_factory(engine)() as session:
        counts = await national_counts(session, 2020)
        forms = dict((await session.execute(text(
            "SELECT school_form, n FROM reporting.national_school_form WHERE year = 2020 AND status = 'started'"
        ))).all())  # fmt: skip
        areas = dict((await session.execute(text(
            "SELECT nsp_area, n FROM reporting.national_nsp WHERE year = 2020 AND status = 'completed'"
        ))).all())  # fmt: skip
    await engine.dispose()
    assert forms == {k: v for k, v in counts.started_by_school_form.items() if v}  # zeros are left out
    assert areas == {k: v for k, v in counts.completed_by_nsp.items() if v}


async def test_the_trend_and_the_regional_breakdowns_add_up(pg_2020: str) -> None:
    trend = {r["År"]: r for r in await fetch(pg_2020, substitute(q.TREND))}
    assert trend["2020"]["Påbörjade"] == STARTED_TOTAL_2020
    assert trend["2020"]["Genomförda och uppföljda"] == COMPLETED_TOTAL_2020
    per_ruc = await fetch(pg_2020, substitute(q.PER_RUC))
    assert len(per_ruc) == 18
    assert sum(r["Genomförda och uppföljda"] for r in per_ruc) == COMPLETED_TOTAL_2020
    per_lan = await fetch(pg_2020, substitute(q.PER_LAN))
    assert sum(r["Påbörjade"] for r in per_lan) == STARTED_TOTAL_2020
    reference = load_reference()
    pivot = await fetch(pg_2020, substitute(q.pivot_ruc_by_nsp(reference)))
    by_area = {a.code: sum(r[a.name_sv] for r in pivot) for a in reference.nsp_areas}
    assert {k: v for k, v in by_area.items() if v} == COMPLETED_2020
    cross = await fetch(pg_2020, substitute(q.pivot_school_form_by_nsp(reference), status="started"))
    assert sum(r["Totalt"] for r in cross) == sum(STARTED_2020.values())
    only_gu = await fetch(pg_2020, substitute(q.PER_RUC, ruc="'gu'"))
    assert [r["RUC"] for r in only_gu] == ["gu"]


async def test_reporting_status_lists_every_ruc_with_its_first_report(pg_2020: str) -> None:
    rows = await fetch(pg_2020, substitute(q.REPORTING_PER_RUC))
    assert len(rows) == 18
    assert all(r["Rapporterat"] == "Ja" and r["Första rapport"] is not None for r in rows)
    assert sum(r["Insatser"] for r in rows) == STARTED_TOTAL_2020 + COMPLETED_TOTAL_2020
    (years,) = [r for r in await fetch(pg_2020, substitute(q.COMPLETENESS_PER_YEAR)) if r["År"] == "2020"]
    assert years["Förväntade RUC"] == years["Har rapporterat"] == 18


async def test_the_grafana_role_reads_the_views_and_no_table(pg_2020: str) -> None:
    login = f"rucnet_grafana_test_{uuid.uuid4().hex[:8]}"
    await _admin(f"CREATE ROLE {login} LOGIN PASSWORD 'test-password' IN ROLE {ROLE}")
    database = pg_2020.rsplit("/", 1)[1]
    host = pg_admin_dsn().rsplit("@", 1)[1].rsplit("/", 1)[0]
    try:
        conn = await asyncpg.connect(f"postgresql://{login}:test-password@{host}/{database}")
        try:
            for view in VIEWS:
                await conn.fetch(f"SELECT * FROM reporting.{view} LIMIT 1")
            for table in ("insats_record", "count_insats", "processed_event", "area_override", "api_token",
                          "report_submission", "reporting.ref_ruc"):  # fmt: skip
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(f"SELECT * FROM {table} LIMIT 1")
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute("CREATE TABLE reporting.x (a int)")
        finally:
            await conn.close()
    finally:
        await _admin(f"DROP ROLE IF EXISTS {login}")


async def test_the_views_are_the_granted_list_and_carry_no_identity(pg_2020: str) -> None:
    views = await fetch(
        pg_2020, "SELECT table_name FROM information_schema.views WHERE table_schema = 'reporting'"
    )
    assert {r["table_name"] for r in views} == set(VIEWS)
    columns = await fetch(
        pg_2020, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'reporting'"
    )
    names = {r["column_name"] for r in columns}
    assert not names & {"huvudman_pseudonym", "huvudman_name", "title", "description", "last_event_id"}
    granted = await fetch(pg_2020, f"""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE has_table_privilege('{ROLE}', c.oid, 'SELECT') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    """)  # fmt: skip
    assert {r["relname"] for r in granted} == set(VIEWS)


async def test_refreshing_the_reference_labels_rewrites_the_same_rows(pg_2020: str) -> None:
    tables = [
        f"ref_{t}" for t in ("ruc", "ruc_lan", "ruc_year", "lan", "school_form_name", "nsp_area", "status")
    ]
    query = " UNION ALL ".join(
        f"SELECT '{t}' AS t, row_to_json(x)::text AS r FROM reporting.{t} x" for t in tables
    )
    before = sorted((r["t"], r["r"]) for r in await fetch(pg_2020, query))
    engine = create_engine(pg_2020)
    async with engine.begin() as conn:
        counts = await refresh_reference(conn, load_reference())
    await engine.dispose()
    after = sorted((r["t"], r["r"]) for r in await fetch(pg_2020, query))
    assert after == before
    assert counts["ref_ruc"] == 18
    assert counts["ref_lan"] == 21


def test_the_migration_leaves_sqlite_without_a_reporting_schema(sqlite_url: str) -> None:
    import sqlite3

    from alembic.script import ScriptDirectory

    from rucnet.migrate import alembic_config

    path = sqlite_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        version = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert version == set(ScriptDirectory.from_config(alembic_config(sqlite_url)).get_heads())  # past 0004
    assert not names & {"ref_ruc", "ref_lan", "ref_nsp_area", "ref_school_form_name", "insats_count"}


async def test_reporting_panels_show_attendance_and_the_deadline_as_the_api_judges_it(pg_2020: str) -> None:
    late = dt.datetime(2021, 2, 1, 9, 0, tzinfo=dt.UTC)
    submitted = ReportSubmitted(
        occurred_at=late, report_id=uuid.uuid4(), version=10_000, ruc_id="gu", year=2020,
        huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod="14", type="kommunal"), insatser=(),
    )  # fmt: skip
    attendance = AttendanceReported(
        ruc_id="gu", year=2020, network_size=4,
        meetings=(MeetingHeld(date=dt.date(2020, 3, 1), attendees=("a", "b", "c")),
                  MeetingHeld(date=dt.date(2020, 10, 1), attendees=("a", "b"))),
    )  # fmt: skip
    engine = create_engine(pg_2020)
    async with session_factory(engine).begin() as session:
        await record_arrival(session, submitted, topics.REPORTS_SUBMITTED)
        await apply_attendance(session, attendance, topics.ATTENDANCE_REPORTED)
        await set_deadline(session, 2020, dt.date(2021, 1, 31))
    await engine.dispose()
    rows = {r["RUC"]: r for r in await fetch(pg_2020, substitute(q.REPORTING_PER_RUC))}
    for ruc_id, row in rows.items():
        expected = timeliness(row["Första rapport"], dt.date(2021, 1, 31))
        assert row["Tidsmässighet"] == {"on_time": "I tid", "late": "Sen", "missing": "Saknas"}[expected], (
            ruc_id
        )
    assert rows["gu"]["Första rapport"] == late
    assert rows["gu"]["Tidsmässighet"] == "Sen"
    assert rows["gu"]["Närvaro rapporterad"] == "Ja"
    assert rows["su"]["Närvaro rapporterad"] == "Nej"
    (figures,) = await fetch(pg_2020, substitute(q.REPORTING_KEY_FIGURES))
    assert figures["Sena"] >= 1
    assert figures["Närvaro rapporterad"] == 1
    gu = next(r for r in await fetch(pg_2020, substitute(q.ATTENDANCE)) if r["RUC"] == "gu")
    assert (gu["Nätverksträffar"], gu["Huvudmän i nätverket"], gu["Närvarande (summa)"]) == (2, 4, 5)
    assert gu["Närvarograd (%)"] == round(100 * 5 / 8, 1)


async def test_classification_panels_follow_an_analysts_override_last(pg_2020: str) -> None:
    (before,) = await fetch(pg_2020, substitute(q.CLASSIFICATION_KEY_FIGURES))
    queue = await fetch(pg_2020, substitute(q.REVIEW_BACKLOG))
    flagged = [r for r in queue if r["Flaggad"] == "Ja"]
    assert before["Väntar på granskning"] == len(flagged)
    assert before["Ej granskade automatiska"] == len(queue) > 0
    assert before["Ändrade av analytiker (%)"] == 0
    first = (flagged or queue)[0]  # a flagged one if the model flagged any in the 2020 set
    area, area_sv = ("styrning-och-ledning", "Styrning och ledning")
    if first["Föreslaget område"] == area_sv:
        area, area_sv = ("elevhalsa", "Elevhälsa och barns omsorg")
    override = ClassificationOverridden(
        ruc_id=first["RUC"], year=2020, ref=first["Referens"], nsp_area=area,
        reason="rutiner", analyst="analytiker@skolverket",
    )  # fmt: skip
    engine = create_engine(pg_2020)
    sessions = session_factory(engine)
    async with sessions.begin() as session:  # the classifier's side: review state and audit
        row = await get_classification(session, (override.ruc_id, override.year, override.ref))
        assert row is not None
        await record_override(session, row, override)
    async with sessions.begin() as session:  # the aggregator's side, when the event arrives
        await apply_events(session, [(override, topics.CLASSIFICATIONS_OVERRIDDEN)])
    await engine.dispose()
    (after,) = await fetch(pg_2020, substitute(q.CLASSIFICATION_KEY_FIGURES))
    assert after["Väntar på granskning"] == before["Väntar på granskning"] - (1 if flagged else 0)
    assert after["Ändrade av analytiker (%)"] > 0
    assert after[UPDATED] >= before[UPDATED]
    buckets = await fetch(pg_2020, substitute(q.CONFIDENCE_DISTRIBUTION))
    assert len(buckets) == 10
    assert sum(r["Ändrat av analytiker"] for r in buckets) == 1
    (day,) = await fetch(pg_2020, substitute(q.REVIEW_ACTIVITY))
    assert (day["Ändrade"], day["Byte av område"]) == (1, 1)
    (moved,) = await fetch(pg_2020, substitute(q.DISAGREEMENTS))
    assert (moved["Gällande område"], moved["Antal"]) == (area_sv, 1)


async def columns(url: str, sql: str) -> list[str]:
    conn = await asyncpg.connect(dsn(url))
    try:
        return [a.name for a in (await conn.prepare(sql)).get_attributes()]
    finally:
        await conn.close()


@pytest.mark.parametrize(("name", "panel", "target"), PANELS, ids=[f"{n}:{p['title']}" for n, p, _ in PANELS])
async def test_the_fields_a_panel_names_are_columns_its_query_returns(
    pg_2020: str, name: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    """A bar chart's x axis and an override by name match a column only if the names agree:
    the SDK cannot know the query's columns, PostgreSQL can."""
    returned = set(await columns(pg_2020, substitute(target["rawSql"])))
    named = {
        o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"] if o["matcher"]["id"] == "byName"
    }
    if "xField" in panel["options"]:
        named.add(panel["options"]["xField"])
    assert named <= returned, f"{panel['title']}: {named - returned} not among {sorted(returned)}"
