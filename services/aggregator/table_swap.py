"""PostgreSQL: replace a large live table by a copy built beside it, by rename.

Filling a table that already has its keys costs a B-tree insertion per row and index; a table
filled first and indexed after gets each index in one sorted pass. So the rebuild fills
``<table>__next`` (columns, defaults and constraints like the live one's, no indexes), builds the
live table's indexes on it (read from the catalogue, under temporary names), then, in the same
transaction, renames the live table away and the new one in.

What readers see: the old table until that moment. The renames take an ACCESS EXCLUSIVE lock
(held to the commit, milliseconds after them); it waits for queries already reading the table, and
queries arriving meanwhile wait for it. Views read a table by its identity, not its name, so the
views that read the live table are defined again, from their own stored definitions, on the new
one; its grants and owner are copied. The old table is then dropped without CASCADE: anything
else still depending on it fails the swap, which rolls back and leaves the live table as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

NEXT = "__next"
OLD = "__old"
_INDEX_HEAD = re.compile(r"^(CREATE (?:UNIQUE )?INDEX) \S+ ON (?:ONLY )?\S+ ")


@dataclass(frozen=True)
class Index:
    name: str
    definition: str
    constraint: str | None  # "PRIMARY KEY" or "UNIQUE" when the index backs one

    @property
    def building(self) -> str:
        """Its name on the new table until the swap (names are unique per schema)."""
        name = self.name + NEXT
        if len(name) > 63:
            raise ValueError(f"index name {name} is too long for PostgreSQL")
        return name


def next_of(live: Table) -> Table:
    """``<live>__next`` as a keyless ``Table`` to write queries against."""
    columns = [Column(c.name, c.type, nullable=c.nullable) for c in live.columns]
    return Table(live.name + NEXT, MetaData(), *columns)


async def create_next(conn: AsyncConnection, live: Table) -> None:
    """An empty ``<live>__next`` shaped like the live table: its columns, defaults, constraints
    and storage options, no indexes yet. A table with triggers or row security policies is
    refused: the copy would silently lack them."""
    found = await conn.execute(
        text(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)"
            " + (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid), array_to_string(c.reloptions, ', ')"
            " FROM pg_class c WHERE c.oid = CAST(:live AS regclass)"
        ),
        {"live": live.name},
    )
    extras, options = found.one()
    if extras:
        raise RuntimeError(f"{live.name} has triggers or row security policies the rebuild cannot copy")
    name = live.name + NEXT
    await conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    await conn.execute(text(f"CREATE TABLE {name} (LIKE {live.name} INCLUDING ALL EXCLUDING INDEXES)"))
    if options:
        await conn.execute(text(f"ALTER TABLE {name} SET ({options})"))


async def _indexes(conn: AsyncConnection, live: Table) -> list[Index]:
    rows = await conn.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid),"
            " CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' END"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
            " WHERE i.indrelid = CAST(:live AS regclass) ORDER BY c.relname"
        ),
        {"live": live.name},
    )
    return [Index(*row) for row in rows]


async def build_indexes(conn: AsyncConnection, live: Table, built: Table) -> list[Index]:
    """The live table's indexes (and the constraints they back) on the filled new table."""
    indexes = await _indexes(conn, live)
    for index in indexes:
        statement, n = _INDEX_HEAD.subn(rf"\1 {index.building} ON {built.name} ", index.definition)
        if n != 1:
            raise ValueError(f"cannot rebuild the index {index.definition!r}")
        await conn.execute(text(statement))
        if index.constraint:
            await conn.execute(
                text(
                    f"ALTER TABLE {built.name} ADD CONSTRAINT {index.building}"
                    f" {index.constraint} USING INDEX {index.building}"
                )
            )
    return indexes


async def _views(conn: AsyncConnection, live: Table) -> list[tuple[str, str, str | None]]:
    """The views reading the live table: name, definition, options."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid),"
            " array_to_string(v.reloptions, ', ')"
            " FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class"
            " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND d.refobjid = CAST(:live AS regclass) AND v.oid <> d.refobjid AND v.relkind = 'v'"
        ),
        {"live": live.name},
    )
    return [(name, definition, options) for name, definition, options in rows]


async def _grants(conn: AsyncConnection, live: Table, built: Table) -> list[str]:
    """The statements that give the new table the live one's owner and privileges."""
    owner = await conn.scalar(
        text("SELECT quote_ident(pg_get_userbyid(relowner)) FROM pg_class WHERE oid = CAST(:t AS regclass)"),
        {"t": live.name},
    )
    rows = await conn.execute(
        text(
            "SELECT a.privilege_type, CASE a.grantee WHEN 0 THEN 'PUBLIC'"
            " ELSE quote_ident(pg_get_userbyid(a.grantee)) END"
            " FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = CAST(:t AS regclass)"
            " AND a.grantee <> c.relowner"
        ),
        {"t": live.name},
    )
    return [f"ALTER TABLE {built.name} OWNER TO {owner}"] + [
        f"GRANT {privilege} ON {built.name} TO {grantee}" for privilege, grantee in rows
    ]


async def swap_in(conn: AsyncConnection, live: Table, built: Table, indexes: list[Index]) -> None:
    """Put the built table in the live one's place (see the module); the caller commits."""
    views = await _views(conn, live)
    for statement in await _grants(conn, live, built):
        await conn.execute(text(statement))
    old = live.name + OLD
    await conn.execute(text(f"ALTER TABLE {live.name} RENAME TO {old}"))  # readers wait from here
    await conn.execute(text(f"ALTER TABLE {built.name} RENAME TO {live.name}"))
    for name, definition, options in views:
        with_options = f" WITH ({options})" if options else ""
        await conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {name}{with_options} AS {definition}")
    await conn.execute(text(f"DROP TABLE {old}"))  # frees the indexes' names
    for index in indexes:
        await conn.execute(text(f"ALTER INDEX {index.building} RENAME TO {index.name}"))
