"""The ledger's direct-to-driver parameters (ledger/driver.py), the advisor's value
combining (ledger/advice_upsert.Fields) and ``Fixed``'s one-call bind processor.

Every expected value is worked by hand in the comments, on SQLite (qmark: tuples in
the statement's order; ``Fixed`` as 1e-10 units, datetimes as text) and PostgreSQL
(pyformat: dicts; ``Fixed`` as a 10-place ``Decimal``, datetimes as they are).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from llmtally.ledger.advice_upsert import Fields, add_into
from llmtally.ledger.driver import compile_insert, dialect_insert, driver_parameters, driver_tuples
from llmtally.ledger.schema import Fixed

_META = MetaData()
_TABLE = Table(
    "driver_check",
    _META,
    Column("id", Text, primary_key=True),
    Column("n", BigInteger, nullable=False, default=0),
    Column("amount", Fixed),
    Column("at", DateTime(timezone=True)),
)
_AT = dt.datetime(2026, 12, 1, 10, 0, 5, 123, tzinfo=dt.UTC)
# 1.23456789015 to 10 places, half to even: the 11th digit 5 after an odd 1 -> 1.2345678902
_ROUNDED = Decimal("1.2345678902")
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


def _plan(dialect: Dialect) -> Any:
    stmt = dialect_insert(dialect.name, _TABLE).on_conflict_do_nothing(index_elements=["id"])
    return compile_insert(dialect, _TABLE, stmt)


def _expected(name: str, row_id: str, n: int, amount: Decimal | None) -> Any:
    if name == "sqlite":  # units of 1e-10: 1.2345678902 -> 12345678902; text for the time
        units = None if amount is None else int(amount.scaleb(10))
        return (row_id, n, units, "2026-12-01 10:00:05.000123")
    return {"id": row_id, "n": n, "amount": amount, "at": _AT}


@pytest.mark.parametrize("name", DIALECTS)
def test_full_rows_and_rows_lacking_columns(name: str) -> None:
    plan = _plan(DIALECTS[name])
    assert plan.positional == (name == "sqlite")
    rows = [
        {"id": "a", "n": 7, "amount": Decimal("1.23456789015"), "at": _AT},
        {"id": "b", "amount": None, "at": _AT},  # no "n": its default 0; NULL stays NULL
    ]
    assert driver_parameters(plan, rows) == [
        _expected(name, "a", 7, _ROUNDED),
        _expected(name, "b", 0, None),
    ]


@pytest.mark.parametrize("name", DIALECTS)
def test_tuples_in_any_column_order_equal_the_dicts(name: str) -> None:
    plan = _plan(DIALECTS[name])
    columns = ("at", "amount", "id", "n")  # not the table's order
    rows = [(_AT, Decimal("1.23456789015"), "a", 7), (_AT, Decimal("-2"), "b", 3)]
    # -2 -> -2.0000000000 -> -20000000000 units
    expected = [_expected(name, "a", 7, _ROUNDED), _expected(name, "b", 3, Decimal("-2"))]
    assert driver_tuples(plan, columns, rows) == expected
    as_dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    assert driver_parameters(plan, as_dicts) == expected
    # the table's own order takes the tuples as they are
    in_order = [(row[2], row[3], row[1], row[0]) for row in rows]
    assert driver_tuples(plan, ("id", "n", "amount", "at"), in_order) == expected


@pytest.mark.parametrize("name", DIALECTS)
def test_tuples_without_a_column_take_its_default(name: str) -> None:
    plan = _plan(DIALECTS[name])
    rows = [("a", Decimal("1.23456789015"), _AT)]
    assert driver_tuples(plan, ("id", "amount", "at"), rows) == [_expected(name, "a", 0, _ROUNDED)]


@pytest.mark.parametrize("name", DIALECTS)
def test_fixed_processor_equals_process_bind_param(name: str) -> None:
    dialect = DIALECTS[name]
    fixed = Fixed().dialect_impl(dialect)
    process = fixed.bind_processor(dialect)
    assert process is not None
    for value in (Decimal("0"), Decimal("1.23456789015"), Decimal("-0.00000000005"), None):
        assert process(value) == fixed.process_bind_param(value, dialect)
    # -0.00000000005 to 10 places, half to even: -0.0000000000 (0 units)
    assert process(Decimal("-0.00000000005")) == 0
    with pytest.raises(ValueError, match="outside what the ledger stores"):
        process(Decimal("1e12"))  # |x| above the 20-digit, 10-place maximum


def test_fields_add_sums_and_pick_the_others() -> None:
    names = ("calls", "cost_total", "prompt_tokens", "first_at", "last_at", "images")
    names += ("effort_min", "effort_max", "tokens")
    fields = Fields(names)
    t1, t2 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    add_into(sums, ("k",), [1, Decimal("0.5"), 900, t1, t1, "img-a", None, None, 10], fields)
    add_into(sums, ("k",), [1, Decimal("0.25"), 400, t2, t2, "img-b", "low", "low", 5], fields)
    add_into(sums, ("k",), [1, Decimal("1"), 950, t1, t1, None, "high", "high", 0], fields)
    # calls 1+1+1; cost 0.5+0.25+1; prompt the largest 950; first 8:00, last 9:00; the
    # first images kept; effort min of (None, low, high) ignoring None: "high" < "low"
    # as text, so min "high", max "low"; tokens 10+5+0
    assert sums == {
        ("k",): [3, Decimal("1.75"), 950, t2, t1, "img-a", "high", "low", 15],
    }


def test_fields_sum_runs_between_picked_values() -> None:
    fields = Fields(("calls", "prefix_min", "tokens", "late", "prefix_max"))
    sums: dict[tuple[Any, ...], list[Any]] = {("k",): [1, 300, 10, 0, 300]}
    add_into(sums, ("k",), [1, 200, 5, 1, 200], fields)
    add_into(sums, ("k",), [1, 500, 7, 0, 500], fields)
    # calls 3, min 200, tokens 22, late 1, max 500
    assert sums[("k",)] == [3, 200, 22, 1, 500]
