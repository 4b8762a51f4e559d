"""The budgets a ledger holds: add, list, remove, and the keys' own budgets.

Budgets live in the ``budgets`` table; a key's own dollar budget (``llmtally
keys create --budget-usd``) stays on its key row and is listed here as
budget ``key:<key id>``, so the gateway applies both the same way.

A dollar budget given in another currency is stored with its limit in that
currency and the currency's code in ``budgets.currency`` (NULL: USD; migration
m0017); :meth:`BudgetBook.all` gives it back as a ``usd`` budget whose
``amount`` is the USD limit of the current window
(:func:`llmtally.budgets.rules.limit_in_usd`), so admission, counters and
alerts stay in USD. A limit that cannot be converted (no rate for
the day, a bad rates file) admits nothing: ``amount`` 0, never overspent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.exc import IntegrityError

from llmtally.budgets.rules import (
    METRICS,
    PERIODS,
    SCOPES,
    Budget,
    BudgetError,
    Metric,
    Period,
    limit_in_usd,
    rate_day,
)
from llmtally.currency import (
    NoRateError,
    RatesFileError,
    RateTable,
    UnknownCurrencyError,
    open_rates,
)
from llmtally.currency import currency as currency_row
from llmtally.ledger.budget_tables import budgets
from llmtally.ledger.schema import check_fixed, gateway_keys
from llmtally.ledger.store import Store
from llmtally.usage import new_ulid

__all__ = ["BudgetBook", "KEY_BUDGET_PREFIX", "parse_amount"]

KEY_BUDGET_PREFIX = "key:"


def parse_amount(text: str, metric: Metric) -> Decimal:
    """A budget amount: positive, finite, whole for requests and tokens."""
    try:
        amount = Decimal(text.strip().lstrip("$¥€£"))
    except InvalidOperation:
        raise BudgetError(f"{text!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise BudgetError(f"a budget must be a positive amount, not {text!r}")
    if metric != "usd" and amount != amount.to_integral_value():
        raise BudgetError(f"a {metric} limit is a whole number, not {text!r}")
    try:
        return check_fixed(amount)
    except (ValueError, InvalidOperation):
        raise BudgetError(f"{text} is too large for a budget") from None


class BudgetBook:
    """The budget definitions of one ledger ``Store``."""

    def __init__(self, store: Store, rates: RateTable | None = None) -> None:
        self.store = store
        self._rates = rates  # None: the shipped and override rates, read when needed

    def rates(self) -> RateTable:
        if self._rates is None:
            self._rates = open_rates()
        return self._rates

    def add(
        self,
        scope: str,
        subject: str,
        metric: str,
        period: str,
        amount: Decimal,
        now: dt.datetime | None = None,
        currency: str = "USD",
    ) -> Budget:
        if scope not in SCOPES:
            raise BudgetError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
        if metric not in METRICS:
            raise BudgetError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if period not in PERIODS:
            raise BudgetError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
        subject = subject.strip()  # a header value cannot carry edge spaces
        if not subject or len(subject) > 200:
            raise BudgetError("a budget needs a subject of 1 to 200 characters")
        subject = self._subject(scope, subject)
        now = now or dt.datetime.now(dt.UTC)
        code = self._currency(metric, currency, period, now, amount)
        row = {
            "id": new_ulid(),
            "scope": scope,
            "subject": subject,
            "metric": metric,
            "period": period,
            "amount": check_fixed(amount),
            "created_at": now.astimezone(dt.UTC),
            "currency": None if code == "USD" else code,
        }
        try:
            with self._write() as conn, conn.begin():
                conn.execute(budgets.insert().values(**row))
        except IntegrityError:
            raise BudgetError(self._exists(scope, subject, metric, period, code)) from None
        found = self.get(str(row["id"]), now)
        assert found is not None
        return found

    def _currency(
        self, metric: str, code: str, period: str, now: dt.datetime, amount: Decimal
    ) -> str:
        """The limit's currency code (``CNY``), once a limit given in another than
        USD converts today (a rate exists for the window's first day)."""
        try:
            code = currency_row(code).code
        except UnknownCurrencyError as exc:
            raise BudgetError(str(exc)) from None
        if code == "USD":
            return code
        if metric != "usd":
            raise BudgetError(f"a {metric} limit is a count: it has no currency")
        try:
            limit_in_usd(amount, code, rate_day(period, now, now), self.rates())  # type: ignore[arg-type]
        except (NoRateError, RatesFileError) as exc:
            raise BudgetError(f"cannot convert the limit to USD: {exc}") from None
        return code

    def _exists(self, scope: str, subject: str, metric: str, period: str, code: str) -> str:
        """Why a budget cannot be added: the one it would repeat."""
        rule = (scope, subject, metric, period, code)
        same = [
            b for b in self.all() if (b.scope, b.subject, b.metric, b.period, b.currency) == rule
        ]
        if not same:
            return "that budget exists already (see llmtally budgets list)"
        return f"{same[0].describe()} exists already ({same[0].id}): remove it first"

    def _subject(self, scope: str, subject: str) -> str:
        """A key budget names the key by id; the user may give its name."""
        if scope != "key":
            return subject
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(gateway_keys.c.id).where(
                    or_(gateway_keys.c.id == subject, gateway_keys.c.name == subject)
                )
            ).scalar()
        if found is None:
            raise BudgetError(f"no gateway key with id or name {subject!r}")
        return str(found)

    def _write(self) -> Connection:
        return self.store.engine.connect().execution_options(llmtally_write=True)

    def remove(self, budget_id: str) -> Budget:
        found = self.get(budget_id)
        if found is None:
            raise BudgetError(f"no budget {budget_id!r} (see llmtally budgets list)")
        if found.id.startswith(KEY_BUDGET_PREFIX):
            raise BudgetError(f"{budget_id} is a key's own budget: it goes with the key")
        with self._write() as conn, conn.begin():
            conn.execute(delete(budgets).where(budgets.c.id == budget_id))
        return found

    def get(self, budget_id: str, now: dt.datetime | None = None) -> Budget | None:
        return next((b for b in self.all(now) if b.id == budget_id), None)

    def all(self, now: dt.datetime | None = None) -> list[Budget]:
        """Every budget in force: the table's, then the active keys' own, oldest
        first; a limit given in another currency in USD for the window of ``now``."""
        now = now or dt.datetime.now(dt.UTC)
        with self.store.engine.connect() as conn:
            names = dict(conn.execute(select(gateway_keys.c.id, gateway_keys.c.name)).all())
            rows = conn.execute(select(budgets).order_by(budgets.c.created_at, budgets.c.id))
            found = [self._budget(row, names, now) for row in rows]
            keys = conn.execute(
                select(gateway_keys)
                .where(gateway_keys.c.revoked_at.is_(None), gateway_keys.c.budget_usd.is_not(None))
                .order_by(gateway_keys.c.created_at, gateway_keys.c.id)
            )
            found += [
                Budget(
                    id=KEY_BUDGET_PREFIX + key.id,
                    scope="key",
                    subject=key.id,
                    metric="usd",
                    period=_period(key.period),
                    amount=key.budget_usd,
                    label=key.name,
                )
                for key in keys
            ]
        return found

    def _budget(self, row: Any, names: dict[str, str], now: dt.datetime) -> Budget:
        budget = Budget(
            id=row.id,
            scope=row.scope,
            subject=row.subject,
            metric=row.metric,
            period=row.period,
            amount=row.amount,
            label=names.get(row.subject, "") if row.scope == "key" else "",
        )
        if row.currency is None:
            return budget
        code, given = row.currency, Decimal(row.amount)
        try:
            day = rate_day(row.period, now, _aware(row.created_at))
            usd, rate = limit_in_usd(given, code, day, self.rates())
        except (NoRateError, RatesFileError, BudgetError, ValueError):
            usd, rate = Decimal(0), None  # cannot convert: admit nothing
        return replace(budget, metric="usd", amount=usd, currency=code, given=given, rate=rate)

    def teams(self) -> dict[str, str]:
        """Key id -> team, for the keys in a team."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(gateway_keys.c.id, gateway_keys.c.team).where(
                    gateway_keys.c.team.is_not(None)
                )
            ).all()
        return {key_id: team for key_id, team in rows}


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _period(text: str) -> Period:
    if text not in PERIODS:
        raise BudgetError(f"a key's budget period is {text!r}, not one of {', '.join(PERIODS)}")
    return text
