"""Hidden costs and per-model performance over a time range, from the rollups.

Hidden costs: the input-side cost (input + cache read + cache write) of the
calls whose prompt was counted by role, shared between system prompt, tool
schemas, history, the latest user turn and retrieved context (what tools
returned) (``other`` is framing overhead);
``unattributed`` is the input-side cost of calls without role counts (not a
chat request, or counting off). Reasoning's share is ``cost_reasoning`` over
all output-side token cost. Savings are what cache reads (net of cache-write
premiums) and the service tier saved against list price.

Per model: calls, error and retry rates, cost, latency and time-to-first-token
percentiles from the log-bucketed histograms (within ~7% of the exact value),
mean output tokens per second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from llmtally.analytics.ranges import Plan, plan_range
from llmtally.analytics.rollup_query import grain_parts, started_in, table, table_sums
from llmtally.ledger.rollup_tables import MODEL_COUNTS, MODEL_FLOATS, MODEL_MONEY, ROLES
from llmtally.ledger.rollups import Rollup, bin_value, summarise
from llmtally.ledger.schema import calls

__all__ = [
    "HiddenCosts",
    "ModelStats",
    "hidden_costs",
    "model_stats",
    "percentile",
    "performance",
]

_MEASURES = (*MODEL_COUNTS, *MODEL_MONEY, *MODEL_FLOATS)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HiddenCosts:
    calls: int
    role_calls: int  # calls whose prompt was counted by role
    system: Decimal
    tools: Decimal
    history: Decimal
    latest_user: Decimal
    context: Decimal  # what tools returned: retrieved documents, search results
    other: Decimal
    unattributed: Decimal
    input_side: Decimal  # input + cache read + cache write, every call
    output_side: Decimal  # output + reasoning
    reasoning: Decimal
    saved_cache: Decimal
    saved_tier: Decimal

    @property
    def hidden(self) -> Decimal:
        """What the user never typed: system prompt, tool schemas, history, context."""
        return self.system + self.tools + self.history + self.context

    def share(self, amount: Decimal, of: Decimal) -> float | None:
        return None if not of else float(amount / of)


@dataclass(frozen=True, slots=True)
class ModelStats:
    provider: str
    model: str
    calls: int
    errors: int
    retryable: int
    cost: Decimal
    output_tokens: int
    unpriced: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    tokens_per_s: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def retry_rate(self) -> float:
        return self.retryable / self.calls if self.calls else 0.0


def _edges(conn: Connection, plan: Plan) -> Rollup:
    """The raw minutes at either end of the range, summed like the rollups."""
    if not plan.raw:
        return Rollup()
    rows = conn.execute(select(calls).where(started_in(plan.raw))).mappings()
    return summarise(dict(row) for row in rows)


ModelSums = dict[tuple[str, str], dict[str, Any]]


def _model_sums(conn: Connection, plan: Plan, edges: Rollup) -> ModelSums:
    sums: ModelSums = {}

    def add(key: tuple[str, str], values: Mapping[str, Any]) -> None:
        found = sums.setdefault(key, dict.fromkeys(_MEASURES, 0))
        for name in _MEASURES:
            found[name] += values[name]

    for grain, ranges in grain_parts(plan):
        source = table("model", grain)
        keys = [source.c.provider, source.c.model]
        for row in table_sums(conn, source, ranges, keys, _MEASURES):
            add((row.provider, row.model), dict(row._mapping))
    for (_, provider, model), values in edges.model.items():
        add((provider, model), dict(zip(_MEASURES, values, strict=True)))
    return sums


def hidden_costs(conn: Connection, since: dt.datetime, until: dt.datetime | None) -> HiddenCosts:
    """The hidden-cost breakdown of calls in ``[since, until)``."""
    plan = plan_range(since, until)
    return _hidden(_model_sums(conn, plan, _edges(conn, plan)))


def _hidden(sums: ModelSums) -> HiddenCosts:
    totals: dict[str, Any] = {}
    for values in sums.values():
        for name, value in values.items():
            totals[name] = totals.get(name, 0) + value

    def money(name: str) -> Decimal:
        return Decimal(totals.get(name, 0))

    input_side = money("cost_input") + money("cost_cache_read") + money("cost_cache_write")
    roles = [money(f"cost_role_{role}") for role in ROLES]
    other = money("cost_role_other")
    return HiddenCosts(
        calls=int(totals.get("calls", 0)),
        role_calls=int(totals.get("role_calls", 0)),
        system=roles[0],
        tools=roles[1],
        history=roles[2],
        latest_user=roles[3],
        context=roles[4],
        other=other,
        unattributed=input_side - sum(roles, _ZERO) - other,
        input_side=input_side,
        output_side=money("cost_output") + money("cost_reasoning"),
        reasoning=money("cost_reasoning"),
        saved_cache=money("saved_cache"),
        saved_tier=money("saved_tier"),
    )


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of a bin -> count histogram, in ms."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for bin_no in sorted(histogram):
        seen += histogram[bin_no]
        if seen >= rank:
            return bin_value(bin_no)
    return bin_value(max(histogram))


Histograms = dict[tuple[str, str, str], dict[int, int]]


def _histograms(conn: Connection, plan: Plan, edges: Rollup) -> Histograms:
    found: Histograms = {}

    def add(provider: str, model: str, metric: str, bin_no: int, n: int) -> None:
        bins = found.setdefault((provider, model, metric), {})
        bins[bin_no] = bins.get(bin_no, 0) + int(n)

    for grain, ranges in grain_parts(plan):
        source = table("latency", grain)
        keys = [source.c.provider, source.c.model, source.c.metric, source.c.bin]
        for row in table_sums(conn, source, ranges, keys, ("n",)):
            add(row.provider, row.model, row.metric, row.bin, row.n)
    for (_, provider, model, metric, bin_no), n in edges.latency.items():
        add(provider, model, metric, bin_no, n)
    return found


def model_stats(
    conn: Connection, since: dt.datetime, until: dt.datetime | None
) -> list[ModelStats]:
    """Per provider and model, the most costly first."""
    plan = plan_range(since, until)
    edges = _edges(conn, plan)
    return _stats(_model_sums(conn, plan, edges), _histograms(conn, plan, edges))


def performance(
    conn: Connection, since: dt.datetime, until: dt.datetime | None
) -> tuple[HiddenCosts, list[ModelStats]]:
    """``hidden_costs`` and ``model_stats`` of one range, each table read once."""
    plan = plan_range(since, until)
    edges = _edges(conn, plan)
    sums = _model_sums(conn, plan, edges)
    return _hidden(sums), _stats(sums, _histograms(conn, plan, edges))


def _stats(sums: ModelSums, hists: Histograms) -> list[ModelStats]:
    stats = []
    for (provider, model), s in sums.items():
        latency, ttft = (
            hists.get((provider, model, "latency"), {}),
            hists.get((provider, model, "ttft"), {}),
        )
        stats.append(
            ModelStats(
                provider,
                model,
                int(s["calls"]),
                int(s["errors"]),
                int(s["retryable"]),
                Decimal(s["cost_total"]),
                int(s["output_tokens"]),
                int(s["unpriced"]),
                percentile(latency, 0.5),
                percentile(latency, 0.95),
                percentile(latency, 0.99),
                percentile(ttft, 0.5),
                percentile(ttft, 0.95),
                s["tps_sum"] / s["tps_n"] if s["tps_n"] else None,
            )
        )
    return sorted(stats, key=lambda m: (-m.cost, -m.calls, m.provider, m.model))
