"""The lab's dashboard pages: ``/lab`` (the runs) and ``/lab/<run>`` (a matrix
of prompts x models with the outputs side by side, cost, latency and pass rate
per column, and a chart of cost against pass rate with the efficient frontier).

Like every page, a handler runs on the dashboard's worker threads; it reads the
lab tables and the ledger through ``llmtally.lab`` and renders one template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from llmtally.analytics.filters import check_text
from llmtally.lab.results import CellResult, RunResults, Summary, frontier, load_results
from llmtally.lab.store import LabStore, RunNotFoundError
from llmtally.ledger.store import Store
from llmtally.money import USD_TICKFORMAT, usd_with_exact
from llmtally.web.charts import log_usd_axis
from llmtally.web.http import HTTPError, Request, Response
from llmtally.web.render import Renderer

__all__ = ["LabPages", "frontier_figure"]

_RUNS = re.compile(r"^/lab$")
_RUN = re.compile(r"^/lab/([^/]+)$")
_FRONTIER = "#d2822d"
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon")


@dataclass(frozen=True, slots=True)
class OutputRow:
    label: str
    variables: dict[str, str | None]
    cells: list[CellResult | None]  # one per model, in the run's order


@dataclass(frozen=True, slots=True)
class PromptBlock:
    prompt_id: str
    system: str | None
    user: str
    stats: list[Summary | None]  # one per model
    rows: list[OutputRow]


def _blocks(results: RunResults) -> list[PromptBlock]:
    templates = {p["id"]: p for p in results.run.plan["prompts"]}
    blocks = []
    for prompt in results.prompts:
        grid: dict[tuple[int, int], dict[str, CellResult]] = {}
        variables: dict[tuple[int, int], dict[str, str | None]] = {}
        for cell in results.cells:
            record = cell.record
            if record.prompt_id == prompt:
                where = (record.row_index, record.repetition)
                grid.setdefault(where, {})[record.model] = cell
                variables[where] = record.row
        rows = [
            OutputRow(
                f"row {row + 1}" + (f" #{rep}" if rep > 1 else ""),
                variables[(row, rep)],
                [grid[(row, rep)].get(model) for model in results.models],
            )
            for row, rep in sorted(grid)
        ]
        template = templates.get(prompt, {})
        blocks.append(
            PromptBlock(
                prompt,
                template.get("system"),
                template.get("user", ""),
                [results.summary(prompt, model) for model in results.models],
                rows,
            )
        )
    return blocks


def frontier_figure(results: RunResults) -> dict[str, Any] | None:
    """Cost per answer against pass rate: one trace per model (colour), one marker
    shape per prompt; the efficient frontier (nothing cheaper passes as often)
    circled and joined. None when the run has no checks or no answers yet."""
    points: list[tuple[str, Decimal, float]] = []
    traces: list[dict[str, Any]] = []
    for model in results.models:
        mine = []
        for i, prompt in enumerate(results.prompts):
            s = results.summary(prompt, model)
            if s is not None and s.pass_rate is not None and s.cost_per_answer is not None:
                mine.append((f"{prompt} / {model}", s.cost_per_answer, s.pass_rate, i))
        if mine:
            points += [(name, cost, rate) for name, cost, rate, _ in mine]
            traces.append(_model_trace(model, mine))
    if not points:
        return None
    best = frontier(points)
    where = {name: (cost, rate) for name, cost, rate in points}
    traces.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "efficient frontier",
            "x": [float(where[name][0]) for name in best],
            "y": [where[name][1] for name in best],
            "hoverinfo": "skip",
            "line": {"color": _FRONTIER, "dash": "dot"},
            "marker": {"size": 20, "symbol": "circle-open", "color": _FRONTIER},
        }
    )
    log = len(points) > 1 and all(cost > 0 for _, cost, _ in points)
    layout = {
        "title": {"text": "Cost per answer against pass rate", "font": {"size": 14}},
        "height": 380,
        "margin": {"l": 60, "r": 30, "t": 40, "b": 50},
        "xaxis": log_usd_axis([float(cost) for _, cost, _ in points], "USD per answer")
        if log
        else {"title": {"text": "USD per answer"}, "tickformat": USD_TICKFORMAT},
        "yaxis": {"title": {"text": "pass rate"}, "tickformat": ".0%", "range": [-0.05, 1.1]},
        "legend": {"orientation": "h", "y": -0.25},
    }
    return {"data": traces, "layout": layout, "frontier": best}


def _model_trace(model: str, mine: list[tuple[str, Decimal, float, int]]) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": model,
        "x": [float(cost) for _, cost, _, _ in mine],
        "y": [rate for _, _, rate, _ in mine],
        "text": [name for name, _, _, _ in mine],
        "hovertext": [
            f"{n}<br>{usd_with_exact(c)} per answer<br>{r:.0%} pass" for n, c, r, _ in mine
        ],
        "hoverinfo": "text",
        "marker": {"size": 11, "symbol": [_SYMBOLS[i % len(_SYMBOLS)] for *_, i in mine]},
    }


def _only_no_params(request: Request) -> None:
    if request.query:
        names = ", ".join(sorted(request.query))
        raise HTTPError(400, f"unknown parameter {names}; this page takes none")


@dataclass(frozen=True, slots=True)
class LabPages:
    """``/lab`` and ``/lab/<run>`` over one ledger."""

    store: Store
    render: Renderer

    def route(self, request: Request) -> Response | None:
        """The page for a lab path; None for any other path."""
        if _RUNS.match(request.path):
            return self.runs(request)
        found = _RUN.match(request.path)
        if found:
            return self.run(request, found.group(1))
        return None

    def runs(self, request: Request) -> Response:
        _only_no_params(request)
        runs = LabStore(self.store).list_runs(200)
        return self.render.page("lab_runs.html", page="lab", runs=runs)

    def run(self, request: Request, run_id: str) -> Response:
        _only_no_params(request)
        try:
            results = load_results(LabStore(self.store), check_text("run", run_id))
        except RunNotFoundError as exc:
            raise HTTPError(404, f"{exc}.") from None
        figure = frontier_figure(results)
        return self.render.page(
            "lab_run.html",
            page="lab",
            r=results,
            run=results.run,
            blocks=_blocks(results),
            figure=figure,
            explorer="/calls?" + urlencode({"since": "all", "tag": results.run.tag}),
        )
