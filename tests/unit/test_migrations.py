"""The migration history is one line, a database upgraded to the old four heads upgrades on, and
0009 counts the records already stored by what their area rests on."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from rucnet.migrate import alembic_config, upgrade
from services.aggregator.tables import COUNT_TABLES
from services.aggregator.verify import verify
from shared.db import create_engine
from tests.unit.test_batch_apply import live, stream


def the_head() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads()
    assert len(heads) == 1, heads
    return str(heads[0])


def test_the_history_has_one_head() -> None:
    assert the_head() >= "0007"


def test_a_database_at_the_old_four_heads_upgrades_to_the_one_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0004")  # with 0002 and 0003, which it depends on
    command.upgrade(alembic_config(url), "0005")
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert sorted(r for (r,) in db.execute("SELECT version_num FROM alembic_version")) == ["0004", "0005"]
    upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert [r for (r,) in db.execute("SELECT version_num FROM alembic_version")] == [the_head()]
        columns = {row[1] for row in db.execute("PRAGMA table_info(insats_record)")}
    assert "report_id" in columns


def test_0009_counts_the_stored_records_by_basis_as_the_live_aggregator_does(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'basis.db'}"
    upgrade(url)
    events = stream(3)
    asyncio.run(live(url, [events]))
    before = asyncio.run(basis_counts(url))
    assert {basis for _, basis in before} == {"confirmed", "declared", "unreviewed"}
    command.downgrade(alembic_config(url), "0008")  # records as 0008 held them, no basis counts
    upgrade(url)
    assert asyncio.run(basis_counts(url)) == before
    engine = create_engine(url)
    assert asyncio.run(verify(engine)).clean
    asyncio.run(engine.dispose())


async def basis_counts(url: str) -> dict[tuple[str, str], int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        table = COUNT_TABLES["nsp_basis"]
        query = select(table.c.nsp_area, table.c.basis, func.sum(table.c.n)).group_by(
            table.c.nsp_area, table.c.basis
        )
        counts = {(area, basis): int(n) for area, basis, n in await conn.execute(query) if n}
    await engine.dispose()
    return counts


def test_alembic_imports_table_definitions_and_no_routes() -> None:
    """What ``env.py`` loads (``table_metadata``), in a fresh interpreter: no module of it holds a
    FastAPI router or a FastStream subscriber."""
    probe = (
        "import sys\n"
        "from rucnet.migrate import table_metadata\n"
        "table_metadata()\n"
        "ours = [m for m in list(sys.modules) if m.split('.')[0] in ('services', 'shared', 'rucnet')]\n"
        "kinds = {type(v).__name__ for m in ours for v in vars(sys.modules[m]).values()}\n"
        "print(sorted(kinds & {'APIRouter', 'KafkaRouter', 'KafkaBroker'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
