"""Rich tables for ``llmtally lab``: the prompt x model matrix, outputs side by
side, the runs, and two runs compared."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from llmtally.money import duration_ms
from llmtally.money import usd as usd_text

if TYPE_CHECKING:
    from llmtally.lab.report import Comparison
    from llmtally.lab.results import RunResults, Summary
    from llmtally.lab.store import RunInfo

__all__ = ["compare_table", "outputs_table", "results_view", "runs_table"]

NONE = "—"
SHORT = 120


def usd(amount: Decimal | None) -> str:
    """Money as people read it (``--json`` has the exact amounts)."""
    return usd_text(amount, NONE)


def ms(value: float | None) -> str:
    return duration_ms(value, NONE)


def rate(summary: Summary | None) -> str:
    if summary is None or summary.pass_rate is None:
        return NONE
    return f"{summary.passed}/{summary.cells} ({summary.pass_rate:.0%})"


def _cell_text(summary: Summary | None) -> str:
    if summary is None or not summary.cells:
        return NONE
    lines = [f"pass {rate(summary)}"] if summary.checked else []
    answers = f"{summary.answered} answer{'' if summary.answered == 1 else 's'}"
    lines.append(f"{usd(summary.cost)} ({answers})")
    lines.append(f"p50 {ms(summary.latency_p50_ms)} · p95 {ms(summary.latency_p95_ms)}")
    if summary.failed:
        lines.append(f"{summary.failed} failed")
    return "\n".join(lines)


def _header(results: RunResults) -> Text:
    run = results.run
    total = results.total
    text = Text()
    text.append(f"lab run {run.id}", style="bold")
    text.append(f"  {run.name}  ({run.experiment_path})\n")
    text.append(f"status: {run.status}")
    if run.stop_reason:
        text.append(f" — {run.stop_reason}")
    text.append(
        f"\ncells: {total.answered} answered, {total.failed} failed, {results.pending} not run, "
        f"of {run.total_cells}\n"
    )
    calls = f"{results.ledger_calls} call{'' if results.ledger_calls == 1 else 's'}"
    text.append(f"ledger: {calls}, {usd(results.ledger_total)}")
    if results.unfinished_spend:
        text.append(f" ({usd(results.unfinished_spend)} on unfinished cells)")
    text.append(f"; tag {run.tag}")
    return text


def matrix_table(results: RunResults) -> Table:
    table = Table(title="prompts x models: pass rate, cost, latency", show_lines=True)
    table.add_column("prompt", overflow="fold")
    for model in results.models:
        table.add_column(model, overflow="fold")
    for prompt in results.prompts:
        table.add_row(prompt, *(_cell_text(results.summary(prompt, m)) for m in results.models))
    table.add_row(
        Text("all prompts", style="bold"),
        *(_cell_text(results.summary(None, m)) for m in results.models),
    )
    return table


def models_table(results: RunResults) -> Table:
    """Per model (and in total): one metric a line, the models as columns."""
    table = Table(title="per model, all prompts")
    table.add_column("", overflow="fold")
    groups = [*results.by_model, results.total]
    for s in groups:
        table.add_column(s.model or "total", justify="right", overflow="fold")
    metrics: list[tuple[str, Callable[[Summary], str]]] = [
        ("pass rate", rate),
        ("cost", lambda s: usd(s.cost)),
        ("cost per answer", lambda s: usd(s.cost_per_answer)),
        ("cost per passing answer", lambda s: usd(s.cost_per_pass)),
        ("tokens in (cached)", lambda s: f"{s.input_tokens:,} ({s.cache_read_tokens:,})"),
        ("tokens out (reasoning)", lambda s: f"{s.output_tokens:,} ({s.reasoning_tokens:,})"),
        ("latency p50 / p95", lambda s: f"{ms(s.latency_p50_ms)} / {ms(s.latency_p95_ms)}"),
        ("TTFT p50 / p95", lambda s: f"{ms(s.ttft_p50_ms)} / {ms(s.ttft_p95_ms)}"),
        ("failed", lambda s: str(s.failed)),
    ]
    for name, show in metrics:
        table.add_row(name, *(show(s) for s in groups))
    return table


def _short(text: str, full: bool) -> str:
    flat = text if full else " ".join(text.split())
    return flat if full or len(flat) <= SHORT else flat[: SHORT - 1] + "…"


def outputs_table(results: RunResults, full: bool = False) -> Table:
    """One line per prompt x row x repetition, the models' outputs side by side."""
    table = Table(title="outputs (✓ all checks pass, ✗ some fail)", show_lines=True)
    table.add_column("prompt / row", overflow="fold")
    for model in results.models:
        table.add_column(model, overflow="fold")
    lines: dict[tuple[int, int, str], dict[str, Text]] = {}
    for cell in results.cells:
        record = cell.record
        line = lines.setdefault((record.repetition, record.row_index, record.prompt_id), {})
        if record.status != "ok":
            line[record.model] = Text(_short(f"failed: {record.error}", full), style="red")
            continue
        mark = {True: "✓ ", False: "✗ ", None: ""}[record.passed]
        text = Text(mark, style="green" if record.passed else "red")
        text.append(_short(record.output or "", full))
        line[record.model] = text
    order = {prompt: i for i, prompt in enumerate(results.prompts)}
    for (rep, row, prompt), outputs in sorted(
        lines.items(), key=lambda item: (order.get(item[0][2], 0), item[0][1], item[0][0])
    ):
        where = f"{prompt} / row {row + 1}" + (f" #{rep}" if rep > 1 else "")
        table.add_row(where, *(outputs.get(m, Text(NONE)) for m in results.models))
    return table


def results_view(results: RunResults, outputs: bool = True, full: bool = False) -> Group:
    parts: list[Text | Table] = [_header(results), matrix_table(results), models_table(results)]
    if outputs and results.cells:
        parts.append(outputs_table(results, full))
    return Group(*parts)


def runs_table(runs: list[RunInfo]) -> Table:
    table = Table(title="lab runs, newest first")
    for name in ("run", "experiment", "status", "cells", "started (UTC)"):
        table.add_column(name, overflow="fold")
    for run in runs:
        table.add_row(
            run.id,
            run.name,
            run.status,
            str(run.total_cells),
            run.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


WIDE = 120  # from this terminal width up, the comparison also shows $/pass and p50


def compare_table(comparison: Comparison, width: int | None = None) -> Group:
    """Two runs side by side; below WIDE columns (``width``, default: the
    terminal's) only pass rate and cost, with a note."""
    from rich import box
    from rich.console import Console

    wide = (Console().width if width is None else width) >= WIDE
    a, b = comparison.a.run.id, comparison.b.run.id
    table = Table(
        title=f"run {a} (A) against run {b} (B)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("prompt / model", overflow="fold", ratio=1)
    names = ["pass A", "pass B", "cost A", "cost B"]
    names += ["$/pass A", "$/pass B", "p50 A", "p50 B"] if wide else []
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for row in comparison.rows:
        label = row.model if row.prompt_id is None else f"{row.prompt_id} / {row.model}"
        cells = [
            rate(row.a),
            rate(row.b),
            usd(row.a.cost if row.a else None),
            usd(row.b.cost if row.b else None),
        ]
        if wide:
            cells += [
                usd(row.a.cost_per_pass if row.a else None),
                usd(row.b.cost_per_pass if row.b else None),
                ms(row.a.latency_p50_ms if row.a else None),
                ms(row.b.latency_p50_ms if row.b else None),
            ]
        table.add_row(Text(label, style="bold" if row.prompt_id is None else ""), *cells)
    if not wide:
        table.caption = "$/pass and p50 latency: a wider terminal or --json"
    note = Text(
        f"{comparison.shared_cells} cell{'' if comparison.shared_cells == 1 else 's'} in both "
        f"runs: {comparison.changed_outputs} output{'' if comparison.changed_outputs == 1 else 's'}"
        f" changed, {comparison.flipped} check verdict{'' if comparison.flipped == 1 else 's'} "
        "flipped"
    )
    return Group(table, note)
