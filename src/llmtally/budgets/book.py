"""The budgets a ledger holds: add, list, remove, and the keys' own budgets.

Budgets live in the ``budgets`` table; a key's own dollar budget (``llmtally
keys create --budget-usd``) stays on its key row and is listed here as
budget ``key:<key id>``, so the gateway applies both the same way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.exc import IntegrityError

from llmtally.budgets.rules import METRICS, PERIODS, SCOPES, Budget, BudgetError, Metric, Period
from llmtally.ledger.budget_tables import budgets
from llmtally.ledger.schema import check_fixed, gateway_keys
from llmtally.ledger.store import Store
from llmtally.usage import new_ulid

__all__ = ["BudgetBook", "KEY_BUDGET_PREFIX", "parse_amount"]

KEY_BUDGET_PREFIX = "key:"


def parse_amount(text: str, metric: Metric) -> Decimal:
    """A budget amount: positive, finite, whole for requests and tokens."""
    try:
        amount = Decimal(text.strip().lstrip("$"))
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

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        scope: str,
        subject: str,
        metric: str,
        period: str,
        amount: Decimal,
        now: dt.datetime | None = None,
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
        row = {
            "id": new_ulid(),
            "scope": scope,
            "subject": subject,
            "metric": metric,
            "period": period,
            "amount": check_fixed(amount),
            "created_at": (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
        }
        try:
            with self._write() as conn, conn.begin():
                conn.execute(budgets.insert().values(**row))
        except IntegrityError:
            raise BudgetError(self._exists(scope, subject, metric, period)) from None
        found = self.get(str(row["id"]))
        assert found is not None
        return found

    def _exists(self, scope: str, subject: str, metric: str, period: str) -> str:
        """Why a budget cannot be added: the one it would repeat."""
        same = [
            b
            for b in self.all()
            if (b.scope, b.subject, b.metric, b.period) == (scope, subject, metric, period)
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

    def get(self, budget_id: str) -> Budget | None:
        return next((b for b in self.all() if b.id == budget_id), None)

    def all(self) -> list[Budget]:
        """Every budget in force: the table's, then the active keys' own, oldest first."""
        with self.store.engine.connect() as conn:
            names = dict(conn.execute(select(gateway_keys.c.id, gateway_keys.c.name)).all())
            rows = conn.execute(select(budgets).order_by(budgets.c.created_at, budgets.c.id))
            found = [
                Budget(
                    id=row.id,
                    scope=row.scope,
                    subject=row.subject,
                    metric=row.metric,
                    period=row.period,
                    amount=row.amount,
                    label=names.get(row.subject, "") if row.scope == "key" else "",
                )
                for row in rows
            ]
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

    def teams(self) -> dict[str, str]:
        """Key id -> team, for the keys in a team."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(gateway_keys.c.id, gateway_keys.c.team).where(
                    gateway_keys.c.team.is_not(None)
                )
            ).all()
        return {key_id: team for key_id, team in rows}


def _period(text: str) -> Period:
    if text not in PERIODS:
        raise BudgetError(f"a key's budget period is {text!r}, not one of {', '.join(PERIODS)}")
    return text
