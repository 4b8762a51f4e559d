"""From an experiment file to the cells to run, with every check made first.

A cell is one prompt x dataset row x model x repetition. ``build_plan`` reads
the file and the dataset, compiles the checks and routes every model through
the gateway config and the price catalog; anything wrong (a template variable
the dataset lacks, a malformed row, an unknown model, a missing API key) is an
:class:`ExperimentError` before any call is made.

A cell's key hashes what it asks (prompt, rendered text, model parameters, row
and repetition), so a run of the same experiment finds its finished cells.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from llmtally.catalog import Catalog
from llmtally.gateway.config import GatewayConfig, RouteError
from llmtally.lab.checks import Checks, check_variables, compile_checks
from llmtally.lab.dataset import Row, load_rows
from llmtally.lab.spec import Experiment, ModelSpec, Source, load_experiment
from llmtally.lab.template import render, variables
from llmtally.providers.wires import Wire, native_wire

__all__ = [
    "THINKING_BUDGET",
    "Cell",
    "Plan",
    "Target",
    "build_plan",
    "cell_key",
    "thinking_budget",
]

# Reasoning effort -> thinking tokens, where a provider takes a budget (Anthropic, Gemini).
THINKING_BUDGET = {"minimal": 512, "low": 1024, "medium": 4096, "high": 16384}
ANTHROPIC_MIN_THINKING = 1024


@dataclass(frozen=True, slots=True)
class Target:
    """Where one model of the experiment goes, and how it is priced."""

    spec: ModelSpec
    wire: Wire  # the chat wire its upstream speaks natively
    provider: str  # the catalog's provider id
    upstream: str  # the gateway config's upstream name
    usd_per_hour: Decimal | None  # priced by time (a machine of your own)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def time_priced(self) -> bool:
        return self.usd_per_hour is not None


@dataclass(frozen=True, slots=True)
class Cell:
    key: str
    prompt_id: str
    row_index: int  # 0-based
    model: str  # the target's name (label or model)
    repetition: int  # 1-based
    system: str | None
    user: str
    row: Row


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    path: Path
    experiment: Experiment
    rows: list[Row]
    targets: dict[str, Target]  # by name, in the file's order
    cells: list[Cell]
    checks: Checks
    fingerprint: str


def cell_key(
    prompt_id: str, system: str | None, user: str, spec: ModelSpec, row: int, rep: int
) -> str:
    identity = {"p": prompt_id, "s": system, "u": user, "m": spec.params(), "row": row, "rep": rep}
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_unique(experiment: Experiment, source: Source) -> None:
    for where, names in (
        ("prompts", [p.id for p in experiment.prompts]),
        ("models", [m.name for m in experiment.models]),
    ):
        for i, name in enumerate(names):
            if name in names[:i]:
                field = (
                    "id"
                    if where == "prompts"
                    else ("label" if experiment.models[i].label else "model")
                )
                raise source.error(
                    [where, i, field], f"{name!r} is used twice; give each a unique {field}"
                )


def _check_variables(experiment: Experiment, rows: list[Row], source: Source) -> None:
    uses: list[tuple[list[int | str], str]] = []
    for i, prompt in enumerate(experiment.prompts):
        for part in ("system", "user"):
            template = getattr(prompt, part)
            uses += [(["prompts", i, part], name) for name in variables(template or "")]
    for i, check in enumerate(experiment.checks):
        uses += [(["checks", i, check.kind], name) for name in check_variables(check)]
    columns = sorted({name for row in rows for name in row})
    for loc, name in uses:
        if not any(name in row for row in rows):
            known = ", ".join(columns) or "none: the experiment has no dataset"
            raise source.error(loc, f"variable {{{name}}} is not in the dataset (columns: {known})")
        for number, row in enumerate(rows, start=1):
            if row.get(name) is None:
                state = "is null" if name in row else "is missing"
                raise source.error(
                    ["dataset"],
                    f"row {number}: {{{name}}} {state} (used by {'.'.join(map(str, loc))})",
                )


def _target(
    spec: ModelSpec,
    loc: list[int | str],
    config: GatewayConfig,
    catalog: Catalog,
    source: Source,
    environ: Mapping[str, str] | None,
) -> Target:
    try:
        route, upstream = config.route(spec.model)
    except RouteError as exc:
        raise source.error(loc, str(exc)) from None
    target = Target(
        spec,
        native_wire(upstream.kind),
        upstream.price_provider,
        route.upstream,
        upstream.usd_per_hour,
    )
    if not target.time_priced:
        try:  # an unknown model or one without a price fails here, not after a paid call
            catalog.price_at(target.provider, spec.model, dt.datetime.now(dt.UTC))
        except LookupError as exc:
            raise source.error(loc, f"unknown model: {exc}") from None
    if environ is not None and upstream.api_key_env and not environ.get(upstream.api_key_env):
        raise source.error(
            loc,
            f"{spec.model} goes to upstream {route.upstream!r}, which reads its API key from "
            f"${upstream.api_key_env}, and that variable is not set",
        )
    _check_budget(target, source, loc)
    _check_anthropic(target, source, loc)
    return target


def thinking_budget(target: Target, effort: str | None) -> int | None:
    """The thinking tokens asked of a provider that takes a budget (Anthropic: at
    least 1,024, per its extended-thinking docs; Gemini): the model entry's
    ``thinking_budget`` as given, else its reasoning effort's, else None."""
    if target.wire.family == "openai":
        return None
    if target.spec.thinking_budget is not None:
        return target.spec.thinking_budget
    if effort is None:
        return None
    budget = THINKING_BUDGET[effort]
    return max(budget, ANTHROPIC_MIN_THINKING) if target.wire.family == "anthropic" else budget


def _check_budget(target: Target, source: Source, loc: list[str | int]) -> None:
    """A thinking budget where the provider takes none (OpenAI: reasoning_effort),
    or below Anthropic's smallest, refused before any call."""
    spec = target.spec
    if spec.thinking_budget is None:
        return
    if target.wire.family == "openai":
        raise source.error(
            [*loc[:-1], "thinking_budget"],
            f"{spec.model} takes reasoning_effort (minimal, low, medium, high), "
            "not a thinking budget",
        )
    if target.wire.family == "anthropic" and spec.thinking_budget < ANTHROPIC_MIN_THINKING:
        raise source.error(
            [*loc[:-1], "thinking_budget"],
            f"{spec.model} thinks with a budget of at least {ANTHROPIC_MIN_THINKING} tokens "
            f"(got {spec.thinking_budget})",
        )


def _check_anthropic(target: Target, source: Source, loc: list[str | int]) -> None:
    """What the Messages API would refuse, refused before any call: temperature
    above 1, a temperature with extended thinking (which needs 1), and a
    max_tokens that leaves no room beyond the thinking budget."""
    spec = target.spec
    if target.wire.family != "anthropic":
        return
    if spec.temperature is not None and spec.temperature > 1:
        raise source.error(
            [*loc[:-1], "temperature"],
            f"{spec.model} takes a temperature from 0 to 1 (got {spec.temperature})",
        )
    budget = thinking_budget(target, spec.reasoning_effort)
    if budget is None:
        return
    if spec.temperature not in (None, 1):
        raise source.error(
            [*loc[:-1], "temperature"],
            f"{spec.model} with {_effort_field(spec)} thinks, and thinking takes "
            f"temperature 1 only (got {spec.temperature}): leave temperature out",
        )
    if spec.max_tokens <= budget:
        raise source.error(
            [*loc[:-1], "max_tokens"],
            f"{_effort_field(spec, value=True)} thinks up to {budget} tokens, so "
            f"max_tokens must be above {budget} (got {spec.max_tokens})",
        )


def _effort_field(spec: ModelSpec, value: bool = False) -> str:
    if spec.thinking_budget is not None:
        return f"thinking_budget {spec.thinking_budget}" if value else "thinking_budget"
    return f"reasoning_effort {spec.reasoning_effort}" if value else "reasoning_effort"


def _cells(experiment: Experiment, rows: list[Row], targets: dict[str, Target]) -> list[Cell]:
    """Every cell, models interleaved so a budget stop leaves a fair comparison."""
    cells: list[Cell] = []
    for rep in range(1, experiment.repetitions + 1):
        for index, row in enumerate(rows):
            values = {k: v for k, v in row.items() if v is not None}
            for prompt in experiment.prompts:
                system = render(prompt.system, values) if prompt.system else None
                user = render(prompt.user, values)
                for name, target in targets.items():
                    key = cell_key(prompt.id, system, user, target.spec, index, rep)
                    cells.append(Cell(key, prompt.id, index, name, rep, system, user, row))
    return cells


def build_plan(
    path: Path,
    config: GatewayConfig,
    catalog: Catalog,
    environ: Mapping[str, str] | None = os.environ,
) -> Plan:
    """Read, check and expand an experiment. ``environ`` (None: skip) is where the
    in-process gateway reads upstream API keys, so a missing one is found first."""
    experiment, source = load_experiment(path)
    _check_unique(experiment, source)
    rows = load_rows(experiment, source)
    _check_variables(experiment, rows, source)
    checks = compile_checks(experiment, source)
    targets = {
        spec.name: _target(spec, ["models", i, "model"], config, catalog, source, environ)
        for i, spec in enumerate(experiment.models)
    }
    cells = _cells(experiment, rows, targets)
    name = experiment.name or path.stem
    digest = hashlib.sha256(name.encode())
    for cell in sorted(c.key for c in cells):
        digest.update(cell.encode())
    return Plan(name, path, experiment, rows, targets, cells, checks, digest.hexdigest()[:16])
