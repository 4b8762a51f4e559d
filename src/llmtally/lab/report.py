"""Results as JSON, and two runs compared (per prompt x model, and cell by cell
where the runs share cells, as two runs of one experiment do)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmtally.lab.results import CellResult, RunResults, Summary
from llmtally.lab.store import RunInfo
from llmtally.meter import decimal_text

__all__ = [
    "CompareRow",
    "Comparison",
    "cell_json",
    "compare_json",
    "compare_runs",
    "results_json",
    "run_json",
    "summary_json",
]


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else decimal_text(amount)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "prompt": summary.prompt_id,
        "model": summary.model,
        "cells": summary.cells,
        "answered": summary.answered,
        "failed": summary.failed,
        "passed": summary.passed if summary.checked else None,
        "pass_rate": summary.pass_rate,
        "cost_usd": _money(summary.cost),
        "cost_per_answer_usd": _money(summary.cost_per_answer),
        "cost_per_pass_usd": _money(summary.cost_per_pass),
        "unpriced_calls": summary.unpriced,
        "input_tokens": summary.input_tokens,
        "cache_read_tokens": summary.cache_read_tokens,
        "output_tokens": summary.output_tokens,
        "reasoning_tokens": summary.reasoning_tokens,
        "latency_p50_ms": _ms(summary.latency_p50_ms),
        "latency_p95_ms": _ms(summary.latency_p95_ms),
        "ttft_p50_ms": _ms(summary.ttft_p50_ms),
        "ttft_p95_ms": _ms(summary.ttft_p95_ms),
    }


def run_json(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "experiment": run.experiment_path,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "max_usd": _money(run.max_usd),
        "gateway": run.gateway,
        "cells": run.total_cells,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "tag": run.tag,
    }


def cell_json(cell: CellResult) -> dict[str, Any]:
    record, call = cell.record, cell.call
    usage = call.usage if call is not None else None
    return {
        "cell": record.cell_key,
        "prompt": record.prompt_id,
        "row": record.row_index + 1,
        "model": record.model,
        "repetition": record.repetition,
        "status": record.status,
        "output": record.output,
        "error": record.error,
        "attempts": record.attempts,
        "call_id": record.call_id,
        "passed": record.passed,
        "checks": [c.as_json() for c in record.checks],
        "cost_usd": _money(cell.spent),
        "tokens": None if usage is None else usage.to_dict(),
        "latency_ms": _ms(cell.latency_ms),
        "ttft_ms": _ms(cell.ttft_ms),
        "variables": record.row,
    }


def results_json(results: RunResults, outputs: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run": run_json(results.run),
        "prompts": results.prompts,
        "models": results.models,
        "pending_cells": results.pending,
        "ledger": {
            "calls": results.ledger_calls,
            "cost_usd": _money(results.ledger_total),
            "unfinished_cells_cost_usd": _money(results.unfinished_spend),
        },
        "total": summary_json(results.total),
        "by_model": [summary_json(s) for s in results.by_model],
        "by_prompt_model": [summary_json(s) for s in results.by_prompt_model],
    }
    if outputs:
        data["cells"] = [cell_json(c) for c in results.cells]
    return data


@dataclass(frozen=True, slots=True)
class CompareRow:
    prompt_id: str | None
    model: str
    a: Summary | None
    b: Summary | None


@dataclass(frozen=True, slots=True)
class Comparison:
    a: RunResults
    b: RunResults
    rows: list[CompareRow]
    shared_cells: int  # cells (same prompt text, row, model, parameters) in both runs
    changed_outputs: int
    flipped: int  # shared cells whose checks passed in one run and not the other


def compare_runs(a: RunResults, b: RunResults) -> Comparison:
    models = a.models + [m for m in b.models if m not in a.models]
    prompts = a.prompts + [p for p in b.prompts if p not in a.prompts]
    rows = [CompareRow(None, m, a.summary(None, m), b.summary(None, m)) for m in models]
    rows += [
        CompareRow(p, m, a.summary(p, m), b.summary(p, m))
        for p in prompts
        for m in models
        if a.summary(p, m) is not None or b.summary(p, m) is not None
    ]
    before = {c.record.cell_key: c.record for c in a.cells if c.record.status == "ok"}
    shared = [(before[c.record.cell_key], c.record) for c in b.cells if c.record.cell_key in before]
    changed = sum(1 for x, y in shared if x.output != y.output)
    flipped = sum(1 for x, y in shared if y.status == "ok" and x.passed != y.passed)
    return Comparison(a, b, rows, len(shared), changed, flipped)


def compare_json(comparison: Comparison) -> dict[str, Any]:
    def side(summary: Summary | None) -> dict[str, Any] | None:
        return None if summary is None else summary_json(summary)

    return {
        "a": run_json(comparison.a.run),
        "b": run_json(comparison.b.run),
        "total": {"a": side(comparison.a.total), "b": side(comparison.b.total)},
        "rows": [
            {"prompt": r.prompt_id, "model": r.model, "a": side(r.a), "b": side(r.b)}
            for r in comparison.rows
        ],
        "shared_cells": comparison.shared_cells,
        "changed_outputs": comparison.changed_outputs,
        "flipped_verdicts": comparison.flipped,
    }
