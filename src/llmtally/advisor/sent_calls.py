"""Which calls of the period are still sent: a response cache kept by an earlier
recommendation (``duplicates``) answers some, and a later change must not count
tokens on them. Their ids go to a temporary table for the length of one
connection, so a query can say ``NOT IN`` without a list of millions of
parameters (as ``prefix_rows`` does)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Table,
    Text,
    case,
    insert,
    select,
)

from llmtally.ledger.schema import calls

__all__ = ["only_sent", "sent_condition"]

_scratch = MetaData()
_answered = Table(
    "advisor_not_sent", _scratch, Column("id", Text, primary_key=True), prefixes=["TEMPORARY"]
)


@contextmanager
def sent_condition(
    conn: Connection, answered: Iterable[str]
) -> Iterator[ColumnElement[bool] | None]:
    """Within the block: the condition "the call is still sent" (None: all are).
    The caller rolls ``conn`` back when done (the table goes with it)."""
    skip = sorted(set(answered))
    if not skip:
        yield None
        return
    _answered.create(conn, checkfirst=True)
    conn.execute(_answered.delete())
    conn.execute(insert(_answered), [{"id": cid} for cid in skip])
    try:
        yield calls.c.id.not_in(select(_answered.c.id))
    finally:
        _answered.drop(conn)


def only_sent(value: ColumnElement[Any], sent: ColumnElement[bool] | None) -> ColumnElement[Any]:
    """``value`` for a call still sent, else 0."""
    return value if sent is None else case((sent, value), else_=0)
