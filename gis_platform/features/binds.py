"""Bind parameters for asyncpg statements composed with :mod:`psycopg.sql`.

Values never enter the SQL text: each is appended to :attr:`Binds.values` and the statement gets a
typed ``$n`` placeholder, so the text stays stable (asyncpg reuses its prepared statement).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from psycopg import sql

PgType = Literal[
    "text", "bigint", "integer", "double precision", "numeric", "boolean", "date", "timestamptz", "bytea",
    "text[]", "bigint[]", "double precision[]", "boolean[]", "date[]", "timestamptz[]",
]  # fmt: skip

_TYPES: dict[str, sql.SQL] = {name: sql.SQL(name) for name in PgType.__args__}  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _placeholder(number: int, pg_type: str) -> sql.Composed:
    """``$n::type``, composed once (rendering a ``sql.Literal`` goes through psycopg's adapters)."""
    return sql.Composed([sql.SQL("$"), sql.SQL(str(int(number))), sql.SQL("::"), _TYPES[pg_type]])


class Binds:
    """Collects the values of one statement and hands out their placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, pg_type: PgType) -> sql.Composed:
        """Bind ``value`` and return its placeholder cast to ``pg_type`` (``$n::type``)."""
        self.values.append(value)
        return _placeholder(len(self.values), pg_type)

    def copy(self) -> Binds:
        """A collector holding the same values (to extend one statement into another)."""
        other = Binds()
        other.values = list(self.values)
        return other
