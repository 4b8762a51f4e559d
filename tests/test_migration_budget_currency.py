"""Migration m0017 (issue 17): ``budgets.currency``. A ledger left at m0016 whose
budgets were written by the code before it (a budget given in yuan stored as
metric ``usd:CNY``, unreleased) keeps every row; the yuan budget becomes metric
``usd`` with currency ``CNY`` and reads back as before. SQLite and PostgreSQL.

Rates: a test override with a round number, 1 USD = 7.2 CNY on 2026-12-01.
Bob's ``usd:CNY`` budget of 72 CNY a day, read on 2026-12-02 (the day's window
takes the latest rate on or before 2026-12-02: 7.2): 72 / 7.2 = 10 USD. A new
budget of 9 EUR a day at 1 USD = 0.9 EUR (test rate): 9 / 0.9 = 10 USD.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import MetaData, inspect, select
from sqlalchemy.exc import IntegrityError

from llmtally.budgets.book import BudgetBook, budgets
from llmtally.currency import RateTable
from llmtally.currency.rates import Rate
from llmtally.ledger import Store
from llmtally.ledger.budget_tables import budget_tables
from llmtally.ledger.migrations import MIGRATIONS, migrate
from llmtally.ledger.store import _engine
from test_ledger_support import db_url, pg_base_url  # noqa: F401

MADE = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def _old_rows() -> list[dict[str, object]]:
    """As the code before m0017 wrote them: the yuan budget under metric ``usd:CNY``,
    beside a USD budget on the same user and period (their metrics differed)."""
    row = {"scope": "user", "subject": "bob", "period": "day", "created_at": MADE}
    return [
        {**row, "id": "b-usd", "metric": "usd", "amount": Decimal(5)},
        {**row, "id": "b-cny", "metric": "usd:CNY", "amount": Decimal(72)},
        {**row, "id": "b-req", "metric": "requests", "amount": Decimal(100)},
    ]


def test_m0017_moves_usd_cny_rows_to_the_currency_column(
    db_url: str,  # noqa: F811
) -> None:
    engine = _engine(db_url)
    assert migrate(engine, [m for m in MIGRATIONS if m[0] < "m0017"])[-1] == (
        "m0016_billed_currency"
    )
    old = budget_tables(MetaData())["budgets"]  # the columns of before
    with engine.connect() as conn, conn.begin():
        conn.execute(old.insert(), _old_rows())
    assert "currency" not in {c["name"] for c in inspect(engine).get_columns("budgets")}
    assert migrate(engine) == [name for name, _ in MIGRATIONS if name >= "m0017"]
    assert "currency" in {c["name"] for c in inspect(engine).get_columns("budgets")}
    with engine.connect() as conn:
        stored = conn.execute(
            select(budgets.c.id, budgets.c.metric, budgets.c.currency, budgets.c.amount).order_by(
                budgets.c.id
            )
        ).all()
    assert [tuple(r) for r in stored] == [
        ("b-cny", "usd", "CNY", Decimal(72)),
        ("b-req", "requests", None, Decimal(100)),
        ("b-usd", "usd", None, Decimal(5)),
    ]
    rates = RateTable(
        [
            Rate(dt.date(2026, 12, 1), "USD", "CNY", Decimal("7.2"), "test rate"),
            Rate(dt.date(2026, 12, 1), "USD", "EUR", Decimal("0.9"), "test euro rate"),
        ]
    )
    ledger = Store(engine)
    try:
        book = BudgetBook(ledger, rates)
        cny = book.get("b-cny", NOW)
        assert cny is not None
        assert (cny.metric, cny.currency, cny.given) == ("usd", "CNY", Decimal(72))
        assert cny.amount == Decimal(10)  # 72 / 7.2
        usd = book.get("b-usd", NOW)
        assert usd is not None and (usd.currency, usd.given, usd.amount) == ("USD", None, 5)
        _one_rule_per_currency(ledger, book)
    finally:
        ledger.close()


def _one_rule_per_currency(ledger: Store, book: BudgetBook) -> None:
    """The unique rule kept its meaning: one budget per rule and currency."""
    with pytest.raises(IntegrityError), ledger.engine.connect() as conn, conn.begin():
        row = {**_old_rows()[0], "id": "again", "metric": "usd", "currency": None}
        conn.execute(budgets.insert().values(**row))  # a second USD budget (NULL)
    with pytest.raises(ValueError, match=r"exists already \(b-cny\)"):
        book.add("user", "bob", "usd", "day", Decimal(70), NOW, currency="CNY")
    with pytest.raises(ValueError, match=r"exists already \(b-usd\)"):
        book.add("user", "bob", "usd", "day", Decimal(9), NOW)
    # the same rule in yet another currency is a new budget, as usd:EUR was
    added = book.add("user", "bob", "usd", "day", Decimal(9), NOW, currency="EUR")
    assert added.currency == "EUR" and added.amount == Decimal(10)  # 9 / 0.9
