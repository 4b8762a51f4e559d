"""Alerts in the ledger: rules added from the command line, alerts fired (each
claimed once by its unique key), their deliveries and every attempt.

Claims are what keep an alert from being sent twice: ``claim`` inserts the
alert with ``ON CONFLICT (dedup_key) DO NOTHING RETURNING id``, so of any
number of evaluators (threads, processes, replicas on one PostgreSQL) exactly
one gets the row back and creates its deliveries. Each delivery attempt is
claimed the same way: ``take`` moves ``attempts`` from the value it read to the
next, with a lease, in one conditional update that only one process can win.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, RowMapping, and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from llmtally.alerts.budget_rules import BudgetRuleError, check_budget_rules
from llmtally.alerts.config import Rule
from llmtally.alerts.findings import Cause, Finding, alert_text
from llmtally.ledger.driver import dialect_insert
from llmtally.ledger.schema import alert_attempts, alert_deliveries, alert_rules, alerts
from llmtally.ledger.store import Store
from llmtally.usage import new_ulid

__all__ = [
    "AlertStore",
    "AlertStoreError",
    "Attempt",
    "DeliveryState",
    "Due",
    "FiredAlert",
    "Outcome",
    "cause_json",
]

_RULE = TypeAdapter[Rule](Rule)


class AlertStoreError(ValueError):
    """A rule that cannot be added or removed (the message says why)."""


@dataclass(frozen=True, slots=True)
class DeliveryState:
    webhook: str
    target: str  # the URL with its secrets cut out
    state: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    delivered_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class FiredAlert:
    id: str
    rule: str
    kind: str
    level: int | None
    scope: dict[str, str]
    period: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    spend: Decimal
    amount: Decimal | None
    projected: Decimal | None
    elapsed: Decimal | None
    baseline: Decimal | None
    factor: Decimal | None
    cause: dict[str, Any] | None
    message: str
    notify: bool
    fired_at: dt.datetime
    deliveries: tuple[DeliveryState, ...] = ()


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery whose next attempt is due, as read (``attempts`` so far)."""

    alert_id: str
    webhook: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """One POST: ok (a 2xx answer), the HTTP status if any, the error if not ok."""

    ok: bool
    status: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Attempt:
    webhook: str
    attempt: int
    started_at: dt.datetime
    duration_ms: float
    http_status: int | None
    error: str | None
    ok: bool


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _at(moment: dt.datetime) -> dt.datetime:
    found = _utc(moment)
    assert found is not None
    return found


def cause_json(cause: Cause | None) -> dict[str, Any] | None:
    """A cause as JSON: money as exact decimal strings."""
    if cause is None:
        return None

    def one(g: Any) -> dict[str, Any]:
        return {
            "dimension": g.dimension,
            "value": g.value,
            "spend_usd": _text(g.spend),
            "usual_usd": _text(g.baseline),
            "growth_usd": _text(g.growth),
            "share_of_increase": _text(g.share),
        }

    return {"top": one(cause.top), "by_dimension": [one(g) for g in cause.by_dimension]}


def _text(amount: Decimal) -> str:
    return f"{amount.normalize():f}"


def _alert_row(found: Finding, now: dt.datetime) -> dict[str, Any]:
    cause = cause_json(found.cause)
    return {
        "id": new_ulid(),
        "dedup_key": found.key,
        "rule": found.rule,
        "kind": found.kind,
        "level": found.level,
        "scope": json.dumps(found.scope, sort_keys=True),
        "period": found.period,
        "period_start": found.period_start,
        "period_end": found.period_end,
        "spend": found.spend,
        "amount": found.amount,
        "projected": found.projected,
        "elapsed": found.elapsed,
        "baseline": found.baseline,
        "factor": found.factor,
        "cause": None if cause is None else json.dumps(cause, sort_keys=True),
        "message": alert_text(found),
        "notify": found.notify,
        "fired_at": now,
    }


def _row_to_alert(row: RowMapping, deliveries: Sequence[DeliveryState]) -> FiredAlert:
    return FiredAlert(
        id=row["id"],
        rule=row["rule"],
        kind=row["kind"],
        level=row["level"],
        scope=json.loads(row["scope"]),
        period=row["period"],
        period_start=_utc(row["period_start"]),
        period_end=_utc(row["period_end"]),
        spend=row["spend"],
        amount=row["amount"],
        projected=row["projected"],
        elapsed=row["elapsed"],
        baseline=row["baseline"],
        factor=row["factor"],
        cause=None if row["cause"] is None else json.loads(row["cause"]),
        message=row["message"],
        notify=bool(row["notify"]),
        fired_at=_at(row["fired_at"]),
        deliveries=tuple(deliveries),
    )


def _row_to_delivery(row: RowMapping) -> DeliveryState:
    return DeliveryState(
        webhook=row["webhook"],
        target=row["target"],
        state=row["state"],
        attempts=int(row["attempts"]),
        next_attempt_at=_at(row["next_attempt_at"]),
        last_error=row["last_error"],
        delivered_at=_utc(row["delivered_at"]),
    )


class AlertStore:
    """The alert tables of one ledger. Thread-safe: each call takes its own connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _write(self) -> Connection:
        return self.engine.connect().execution_options(llmtally_write=True)

    # -- rules added from the command line ---------------------------------

    def add_rule(self, rule: Rule, now: dt.datetime) -> Rule:
        """Store ``rule``; it comes back with its budget's scope, amount and
        period when it names one (a budget that is missing or cannot be watched
        is an ``AlertStoreError``, and nothing is stored)."""
        try:
            (found,) = check_budget_rules(self.store, [rule])
        except BudgetRuleError as exc:
            raise AlertStoreError(str(exc)) from None
        row = {
            "name": rule.name,
            "kind": rule.kind,
            "spec": rule.model_dump_json(),
            "created_at": now.astimezone(dt.UTC),
        }
        try:
            with self._write() as conn, conn.begin():
                conn.execute(alert_rules.insert().values(**row))
        except IntegrityError:
            raise AlertStoreError(f"an alert rule named {rule.name!r} exists already") from None
        return found

    def remove_rule(self, name: str) -> bool:
        with self._write() as conn, conn.begin():
            gone = conn.execute(alert_rules.delete().where(alert_rules.c.name == name))
        return bool(gone.rowcount)

    def rules(self) -> list[Rule]:
        query = select(alert_rules.c.spec).order_by(alert_rules.c.name)
        with self.engine.connect() as conn:
            return [_RULE.validate_json(spec) for spec in conn.execute(query).scalars()]

    # -- claims ---------------------------------------------------------------

    def taken(self, key: str) -> bool:
        query = select(alerts.c.id).where(alerts.c.dedup_key == key)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def claim(
        self, found: Sequence[Finding], targets: Sequence[dict[str, str]], now: dt.datetime
    ) -> list[str | None]:
        """Insert each finding unless its key is taken (one transaction); for each,
        the new alert's id or None. A notifying alert gets a pending delivery per
        webhook in ``targets`` (name -> the URL as it may be shown)."""
        now = now.astimezone(dt.UTC)
        ids: list[str | None] = []
        with self._write() as conn, conn.begin():
            for finding, hooks in zip(found, targets, strict=True):
                stmt = dialect_insert(self.store.dialect, alerts).values(**_alert_row(finding, now))
                stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
                new_id = conn.execute(stmt.returning(alerts.c.id)).scalar()
                ids.append(new_id)
                if new_id is not None and finding.notify and hooks:
                    conn.execute(alert_deliveries.insert(), _pending(new_id, hooks, now))
        return ids

    # -- deliveries -----------------------------------------------------------

    def due(self, now: dt.datetime, limit: int = 100) -> list[Due]:
        d = alert_deliveries.c
        query = (
            select(d.alert_id, d.webhook, d.attempts)
            .where(d.state == "pending", d.next_attempt_at <= now.astimezone(dt.UTC))
            .where(or_(d.lease_until.is_(None), d.lease_until <= now.astimezone(dt.UTC)))
            .order_by(d.next_attempt_at, d.alert_id, d.webhook)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Due(a, w, int(n)) for a, w, n in conn.execute(query)]

    def next_due(self) -> dt.datetime | None:
        """When the earliest pending delivery is due (its lease may push it later)."""
        d = alert_deliveries.c
        query = select(func.min(d.next_attempt_at)).where(d.state == "pending")
        with self.engine.connect() as conn:
            return _utc(conn.execute(query).scalar())

    def take(self, due: Due, now: dt.datetime, lease_until: dt.datetime) -> bool:
        """Claim the next attempt of ``due``: True for exactly one caller."""
        d = alert_deliveries.c
        now = now.astimezone(dt.UTC)
        stmt = (
            alert_deliveries.update()
            .where(and_(d.alert_id == due.alert_id, d.webhook == due.webhook))
            .where(d.state == "pending", d.attempts == due.attempts)
            .where(or_(d.lease_until.is_(None), d.lease_until <= now))
            .values(attempts=due.attempts + 1, lease_until=lease_until.astimezone(dt.UTC))
        )
        with self._write() as conn, conn.begin():
            return conn.execute(stmt).rowcount == 1

    def finish(
        self,
        due: Due,
        started_at: dt.datetime,
        outcome: Outcome,
        retry_at: dt.datetime | None,
    ) -> None:
        """Record attempt ``due.attempts + 1`` and its consequence: delivered, to be
        retried at ``retry_at``, or (no ``retry_at``) failed for good."""
        attempt = due.attempts + 1
        started = started_at.astimezone(dt.UTC)
        if outcome.ok:
            change: dict[str, Any] = {"state": "delivered", "delivered_at": started}
        elif retry_at is None:
            change = {"state": "failed"}
        else:
            change = {"next_attempt_at": retry_at.astimezone(dt.UTC)}
        d = alert_deliveries.c
        with self._write() as conn, conn.begin():
            conn.execute(
                alert_attempts.insert().values(
                    alert_id=due.alert_id,
                    webhook=due.webhook,
                    attempt=attempt,
                    started_at=started,
                    duration_ms=outcome.duration_ms,
                    http_status=outcome.status,
                    error=outcome.error,
                    ok=outcome.ok,
                )
            )
            conn.execute(
                alert_deliveries.update()
                .where(d.alert_id == due.alert_id, d.webhook == due.webhook)
                .values(lease_until=None, last_error=outcome.error, **change)
            )

    # -- reading --------------------------------------------------------------

    def get(self, alert_id: str) -> FiredAlert | None:
        found = self._alerts(select(alerts).where(alerts.c.id == alert_id))
        return found[0] if found else None

    def fired(self, since: dt.datetime | None = None, limit: int | None = 100) -> list[FiredAlert]:
        """Alerts fired, newest first (those of one pass in the order claimed: a
        rule's highest threshold first)."""
        query = select(alerts).order_by(alerts.c.fired_at.desc(), alerts.c.id)
        if since is not None:
            query = query.where(alerts.c.fired_at >= since.astimezone(dt.UTC))
        return self._alerts(query if limit is None else query.limit(limit))

    def _alerts(self, query: Any) -> list[FiredAlert]:
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            ids = [row["id"] for row in rows]
            hooks: dict[str, list[DeliveryState]] = {}
            for start in range(0, len(ids), 500):
                d = alert_deliveries.c
                chosen = select(alert_deliveries).where(d.alert_id.in_(ids[start : start + 500]))
                for found in conn.execute(chosen.order_by(d.webhook)).mappings():
                    hooks.setdefault(found["alert_id"], []).append(_row_to_delivery(found))
        return [_row_to_alert(row, hooks.get(row["id"], [])) for row in rows]

    def attempts(self, alert_id: str) -> list[Attempt]:
        a = alert_attempts.c
        query = select(alert_attempts).where(a.alert_id == alert_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(a.webhook, a.attempt)).mappings()
            return [
                Attempt(
                    r["webhook"],
                    int(r["attempt"]),
                    _at(r["started_at"]),
                    float(r["duration_ms"]),
                    r["http_status"],
                    r["error"],
                    bool(r["ok"]),
                )
                for r in rows
            ]


def _pending(alert_id: str, hooks: dict[str, str], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "alert_id": alert_id,
            "webhook": name,
            "target": target,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "lease_until": None,
            "last_error": None,
            "delivered_at": None,
        }
        for name, target in sorted(hooks.items())
    ]
