"""A scope's spend over a time range, exact, read from the rollups where they can
answer and from ``calls`` where they cannot.

The rollups answer a scope on provider and model (``rollup_model_*``) or on one
attribute (``rollup_dim_*``: user, feature, key, tag or fingerprint), and a
breakdown (by user, feature, model or fingerprint) of all calls. A range is read
as whole days and hours from the rollup tables plus the minutes at either end
from ``calls`` (``llmtally.analytics.ranges``), so the sum is exact for any
range. A scope that combines attributes across tables (user and model, say) is
summed from ``calls`` in SQL, over the same range.

A team is the keys whose ``gateway_keys.team`` names it now (as its budget
counts them): on its own it is read from the key rollups of those keys (each
call has one key, so their sum is exact), with other attributes from ``calls``
where ``key_id`` is one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Select, Table, func, select

from llmtally.alerts.config import Scope
from llmtally.analytics.filters import CallFilter, model_condition
from llmtally.analytics.ranges import Plan, plan_range
from llmtally.analytics.rollup_query import grain_parts, started_in, table, table_sums
from llmtally.ledger.schema import calls, gateway_keys
from llmtally.usage import model_label

if TYPE_CHECKING:
    from sqlalchemy.sql import ColumnElement

    from llmtally.ledger.store import Store

__all__ = ["BREAKDOWNS", "Breakdown", "scope_spend", "spend_by"]

Breakdown = Literal["user", "feature", "model", "fingerprint"]
BREAKDOWNS: tuple[Breakdown, ...] = ("user", "feature", "model", "fingerprint")
_MODEL_FIELDS = frozenset({"provider", "model"})
_DIM_FIELDS = frozenset({"user", "feature", "key", "team", "tag", "fingerprint"})
_ZERO = Decimal(0)
_CALL_COLUMNS = {"user": "user_id", "feature": "feature", "fingerprint": "prompt_fingerprint"}


def _family(scope: Scope) -> str | None:
    """``model`` or ``dim`` when the rollups hold this scope's spend, else None."""
    names = set(scope.items())
    if names <= _MODEL_FIELDS:
        return "model"
    if len(names) == 1 and names <= _DIM_FIELDS:
        return "dim"
    return None


def _calls_where(scope: Scope, dialect: str) -> list[ColumnElement[bool]]:
    where = CallFilter(
        provider=scope.provider,
        model=scope.model,
        user=scope.user,
        feature=scope.feature,
        key=scope.key,
        tag=scope.tag,
    ).conditions(dialect)
    if scope.fingerprint is not None:
        where.append(calls.c.prompt_fingerprint == scope.fingerprint)
    if scope.team is not None:
        where.append(calls.c.key_id.in_(_members(scope.team)))
    return where


def _members(team: str) -> Select[tuple[str]]:
    """The ids of the keys in ``team``."""
    return select(gateway_keys.c.id).where(gateway_keys.c.team == team)


def _rollup_where(source: Table, scope: Scope) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for name, value in scope.items().items():
        if name == "provider":
            found.append(source.c.provider == value)
        elif name == "model":
            found.append(model_condition(value, _model_is(source), source.c.provider))
        elif name == "team":
            found += [source.c.kind == "key", source.c.value.in_(_members(value))]
        else:
            found += [source.c.kind == name, source.c.value == value]
    return found


def _model_is(source: Table) -> Callable[[str], ColumnElement[bool]]:
    column = source.c.model
    return lambda name: column == name


def _calls_sum(
    conn: Connection, where: Sequence[ColumnElement[bool]], keys: Sequence[Any] = ()
) -> list[Any]:
    total = func.coalesce(func.sum(calls.c.cost_total), _ZERO).label("cost_total")
    query = select(*keys, total).where(*where)
    if keys:
        query = query.group_by(*keys)
    return list(conn.execute(query))


def _plan(scope: Scope, since: dt.datetime, until: dt.datetime | None) -> Plan:
    if _family(scope) is None:
        return Plan(raw=[(since, until)])
    return plan_range(since, until)


def scope_spend(
    store: Store, scope: Scope, since: dt.datetime, until: dt.datetime | None
) -> Decimal:
    """What the calls in ``scope`` that started in ``[since, until)`` cost (USD,
    exact; unpriced calls count nothing)."""
    family, plan = _family(scope), _plan(scope, since, until)
    spent = _ZERO
    with store.engine.connect() as conn:
        if plan.raw:
            where = [*_calls_where(scope, store.dialect), started_in(plan.raw)]
            spent += Decimal(_calls_sum(conn, where)[0].cost_total)
        for grain, ranges in grain_parts(plan):
            source = table(family or "model", grain)
            where_rows = _rollup_where(source, scope)
            (row,) = table_sums(conn, source, ranges, [], ["cost_total"], where_rows)
            spent += Decimal(row.cost_total)
    return spent


def spend_by(
    store: Store, scope: Scope, by: Breakdown, since: dt.datetime, until: dt.datetime | None
) -> dict[str, Decimal]:
    """``scope``'s spend in ``[since, until)`` per user, feature, model
    (``provider/model``) or fingerprint; calls without one are under ''."""
    plan = plan_range(since, until) if not scope.items() else Plan(raw=[(since, until)])
    found: dict[str, Decimal] = {}
    with store.engine.connect() as conn:
        if plan.raw:
            where = [*_calls_where(scope, store.dialect), started_in(plan.raw)]
            for *key, cost in _calls_sum(conn, where, _call_keys(by)):
                _add(found, _label(by, key), Decimal(cost))
        for grain, ranges in grain_parts(plan):
            for *key, cost in _rollup_rows(conn, by, grain, ranges):
                _add(found, _label(by, key), Decimal(cost))
    return found


def _call_keys(by: Breakdown) -> list[Any]:
    if by == "model":
        return [calls.c.provider, func.coalesce(calls.c.model_served, calls.c.model_requested)]
    return [func.coalesce(calls.c[_CALL_COLUMNS[by]], "")]


def _rollup_rows(
    conn: Connection, by: Breakdown, grain: str, ranges: Sequence[tuple[int, int | None]]
) -> list[Any]:
    if by == "model":
        source = table("model", grain)
        keys = [source.c.provider, source.c.model]
        return table_sums(conn, source, ranges, keys, ["cost_total"])
    source = table("dim", grain)
    where = [source.c.kind == by]
    return table_sums(conn, source, ranges, [source.c.value], ["cost_total"], where)


def _label(by: Breakdown, key: Sequence[Any]) -> str:
    return model_label(key[0], key[1]) if by == "model" else str(key[0] or "")


def _add(found: dict[str, Decimal], name: str, amount: Decimal) -> None:
    found[name] = found.get(name, _ZERO) + amount
