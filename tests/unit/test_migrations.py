"""The migration history is one line, and a database upgraded to the old four heads upgrades on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from rucnet.migrate import alembic_config, upgrade


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
