"""A run's results: each cell's output and checks joined with its ledger rows
(tokens, cost, latency, time to first token), and totals per model and per
prompt x model: pass rate, cost per passing answer, p50/p95 latency.

Costs are the ledger's: a cell costs what every attempt of it cost (a retried
429 is usually free; a stream cut halfway is not), and the run's total is the
sum of every ledger row of the run, so it equals what the ledger says.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtally.lab.store import Attempt, CellRecord, LabStore, RunInfo, trace_prefix
from llmtally.usage import Call

_PLACES = Decimal("1e-10")  # the ledger's precision

__all__ = [
    "CellResult",
    "RunResults",
    "Summary",
    "frontier",
    "load_results",
    "percentile",
    "summarize",
]


@dataclass(frozen=True, slots=True)
class CellResult:
    record: CellRecord
    call: Call | None  # the ledger row of the answer
    spent: Decimal  # every attempt's cost, from the ledger
    calls: int  # ledger rows of the cell (attempts that reached the gateway)
    unpriced: int  # of which had no price

    @property
    def latency_ms(self) -> float | None:
        return self.call.latency_ms if self.call is not None else None

    @property
    def ttft_ms(self) -> float | None:
        return self.call.ttft_ms if self.call is not None else None


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals over a group of finished cells (all prompts when ``prompt_id`` is None)."""

    prompt_id: str | None
    model: str | None
    cells: int
    answered: int
    failed: int
    checked: bool
    passed: int
    cost: Decimal
    unpriced: int
    input_tokens: int
    cache_read_tokens: int
    output_tokens: int
    reasoning_tokens: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.cells if self.checked and self.cells else None

    @property
    def cost_per_answer(self) -> Decimal | None:
        return (self.cost / self.answered).quantize(_PLACES) if self.answered else None

    @property
    def cost_per_pass(self) -> Decimal | None:
        """What one passing answer cost: everything spent, over the answers that pass."""
        if not (self.checked and self.passed):
            return None
        return (self.cost / self.passed).quantize(_PLACES)


@dataclass(frozen=True, slots=True)
class RunResults:
    run: RunInfo
    prompts: list[str]
    models: list[str]
    cells: list[CellResult]
    by_model: list[Summary]
    by_prompt_model: list[Summary]
    total: Summary
    pending: int  # cells not run yet (failed cells are retried by the next run)
    ledger_total: Decimal  # every ledger row of the run
    ledger_calls: int

    @property
    def unfinished_spend(self) -> Decimal:
        """Spent on attempts of cells that have not finished (a run stopped mid-call)."""
        return self.ledger_total - self.total.cost

    def summary(self, prompt_id: str | None, model: str) -> Summary | None:
        found = self.by_prompt_model if prompt_id is not None else self.by_model
        return next((s for s in found if s.prompt_id == prompt_id and s.model == model), None)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1), interpolated between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(
    cells: Iterable[CellResult], prompt_id: str | None, model: str | None, checked: bool
) -> Summary:
    group = list(cells)
    answered = [c for c in group if c.record.status == "ok"]
    usages = [c.call.usage for c in answered if c.call is not None]
    latencies = [c.latency_ms for c in answered if c.latency_ms is not None]
    ttfts = [c.ttft_ms for c in answered if c.ttft_ms is not None]
    return Summary(
        prompt_id=prompt_id,
        model=model,
        cells=len(group),
        answered=len(answered),
        failed=len(group) - len(answered),
        checked=checked,
        passed=sum(1 for c in group if c.record.passed),
        cost=sum((c.spent for c in group), Decimal(0)),
        unpriced=sum(c.unpriced for c in group),
        input_tokens=sum(u.input_tokens for u in usages),
        cache_read_tokens=sum(u.cache_read_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        reasoning_tokens=sum(u.reasoning_tokens for u in usages),
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p95_ms=percentile(latencies, 0.95),
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p95_ms=percentile(ttfts, 0.95),
    )


def frontier(points: Sequence[tuple[str, Decimal, float]]) -> list[str]:
    """The efficient frontier of (name, cost, pass rate) points: those no other
    point beats on both (cheaper or as cheap, and passing as often or more),
    cheapest first."""
    kept = []
    for name, cost, rate in points:
        beaten = any(
            c <= cost and r >= rate and (c < cost or r > rate) for n, c, r in points if n != name
        )
        if not beaten:
            kept.append((cost, -rate, name))
    return [name for _, _, name in sorted(kept)]


def _cell_key(call: Call, run_id: str) -> str | None:
    prefix = trace_prefix(run_id)
    trace = call.trace_id or ""
    return trace[len(prefix) :].split(":", 1)[0] if trace.startswith(prefix) else None


def _spent(attempts: Iterable[Attempt]) -> Decimal:
    return sum((a.cost for a in attempts if a.cost is not None), Decimal(0))


def _join(records: list[CellRecord], attempts: list[Attempt], run_id: str) -> list[CellResult]:
    by_cell: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        key = _cell_key(attempt.call, run_id)
        if key is not None:
            by_cell[key].append(attempt)
    joined = []
    for record in records:
        rows = by_cell.get(record.cell_key, [])
        answer = next((a.call for a in rows if a.call.id == record.call_id), None)
        unpriced = sum(1 for a in rows if a.cost is None and a.call.status < 400)
        joined.append(CellResult(record, answer, _spent(rows), len(rows), unpriced))
    return joined


def load_results(lab: LabStore, ref: str | None = None) -> RunResults:
    """The results of run ``ref`` (id or prefix; the latest run when None)."""
    run = lab.get_run(ref)
    prompts = [p["id"] for p in run.plan["prompts"]]
    models = [m["name"] for m in run.plan["models"]]
    calls = lab.calls(run.id)
    cells = _join(lab.cells(run.id), calls, run.id)
    checked = bool(run.plan["checks"])
    by_model = [
        summarize([c for c in cells if c.record.model == m], None, m, checked) for m in models
    ]
    by_prompt_model = [
        summarize(
            [c for c in cells if c.record.model == m and c.record.prompt_id == p], p, m, checked
        )
        for p in prompts
        for m in models
    ]
    total = summarize(cells, None, None, checked)
    return RunResults(
        run=run,
        prompts=prompts,
        models=models,
        cells=cells,
        by_model=by_model,
        by_prompt_model=by_prompt_model,
        total=total,
        pending=run.total_cells - len(cells),
        ledger_total=_spent(calls),
        ledger_calls=len(calls),
    )
