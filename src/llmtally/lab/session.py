"""``lab run`` and ``lab resume`` as library calls: check the experiment, find or
start its run, start a gateway (unless one is given), run the unfinished cells.

Everything that can be wrong with the experiment is found before the gateway
starts; a run of an experiment whose cells are unchanged resumes the latest
run of it (``new=True`` starts another).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmtally.catalog import Catalog
from llmtally.config import open_catalog, spool_file
from llmtally.gateway.serve import resolve_config
from llmtally.lab.budget import WorstCase
from llmtally.lab.plan import Plan, build_plan
from llmtally.lab.runner import LabError, Progress, RunOptions, RunTally, execute
from llmtally.lab.spec import ExperimentError
from llmtally.lab.store import COMPLETE, LabStore, RunInfo
from llmtally.ledger import open_store

__all__ = ["LabOptions", "RunOutcome", "plan_json", "prepare", "resume_run", "run_experiment"]


@dataclass(frozen=True, slots=True)
class LabOptions:
    config: Path | None = None  # the gateway config (as for ``llmtally serve``)
    database_url: str | None = None
    gateway: str | None = None  # a running ``llmtally serve``; None: start one in-process
    gateway_key: str | None = None
    max_usd: Decimal | None = None
    concurrency: int = 4
    new: bool = False
    attempts: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    ledger_wait_s: float = 30.0  # for a call's row to reach the ledger (a remote gateway's too)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run: RunInfo
    tally: RunTally
    worst_case: Decimal  # of the cells this session had to run


def plan_json(plan: Plan) -> dict[str, Any]:
    """What a run keeps of its plan, so results show without the file."""
    experiment = plan.experiment
    return {
        "description": experiment.description,
        "prompts": [p.model_dump(mode="json") for p in experiment.prompts],
        "models": [
            {
                **t.spec.model_dump(mode="json"),
                "name": name,
                "provider": t.provider,
                "wire": t.wire.family,
                "upstream": t.upstream,
                "usd_per_hour": None if t.usd_per_hour is None else str(t.usd_per_hour),
            }
            for name, t in plan.targets.items()
        ],
        "checks": plan.checks.names,
        "rows": len(plan.rows),
        "repetitions": experiment.repetitions,
        "dataset": experiment.dataset if isinstance(experiment.dataset, str) else None,
    }


def prepare(path: Path, options: LabOptions, catalog: Catalog) -> Plan:
    """The checked plan (an ExperimentError names what is wrong, before any call)."""
    from llmtally.catalog import CatalogFileError

    try:
        config, _ = resolve_config(options.config)
    except CatalogFileError as exc:
        raise ExperimentError(str(exc)) from None
    environ = None if options.gateway else os.environ
    plan = build_plan(path, config, catalog, environ)
    worst = WorstCase(catalog)
    for cell in plan.cells:  # prices every cell's worst case now: a gap shows before a call
        try:
            worst.of(cell, plan.targets[cell.model])
        except (LookupError, ValueError) as exc:
            raise ExperimentError(f"{path}: cannot price {cell.model}: {exc}") from None
    return plan


def run_experiment(
    path: Path, options: LabOptions, progress: Progress, catalog: Catalog | None = None
) -> RunOutcome:
    catalog = catalog or open_catalog()
    plan = prepare(path, options, catalog)
    with open_store(options.database_url) as store:
        lab = LabStore(store)
        run = None if options.new else lab.find_run(plan.fingerprint)
        if run is None:
            run = lab.create_run(
                plan.name,
                str(path.resolve()),
                plan.fingerprint,
                plan_json(plan),
                len(plan.cells),
                options.max_usd,
                options.gateway or "in-process",
            )
        return _session(plan, run, lab, options, progress, catalog)


def resume_run(
    ref: str, options: LabOptions, progress: Progress, catalog: Catalog | None = None
) -> RunOutcome:
    """Go on with run ``ref`` (id or prefix), from its experiment file."""
    catalog = catalog or open_catalog()
    with open_store(options.database_url) as store:
        lab = LabStore(store)
        run = lab.get_run(ref)
        path = Path(run.experiment_path)
        plan = prepare(path, options, catalog)
        if plan.fingerprint != run.fingerprint:
            raise ExperimentError(
                f"{path}: the experiment changed since run {run.id} started (its cells differ); "
                f"`llmtally lab run {path}` starts a run of the new version"
            )
        return _session(plan, run, lab, options, progress, catalog)


def _rescore(plan: Plan, run: RunInfo, lab: LabStore) -> None:
    """Checks may have changed since the cells ran: score the stored outputs again."""
    results = []
    for cell in lab.cells(run.id):
        if cell.status == "ok" and cell.output is not None:
            checks = tuple(plan.checks.run(cell.output, cell.row))
            results.append(
                (cell.cell_key, checks, all(c.passed for c in checks) if checks else None)
            )
    lab.update_checks(run.id, results)


def _session(
    plan: Plan,
    run: RunInfo,
    lab: LabStore,
    options: LabOptions,
    progress: Progress,
    catalog: Catalog,
) -> RunOutcome:
    from llmtally.lab.host import LabGateway

    _rescore(plan, run, lab)
    lab.start_session(run.id, options.max_usd)
    worst = WorstCase(catalog)
    finished = {c.cell_key for c in lab.cells(run.id) if c.status == "ok"}
    todo = [c for c in plan.cells if c.key not in finished]
    worst_case = sum((worst.of(c, plan.targets[c.model]) for c in todo), Decimal(0))
    run_options = RunOptions(
        max_usd=options.max_usd,
        concurrency=options.concurrency,
        attempts=options.attempts,
        backoff_s=options.backoff_s,
        backoff_max_s=options.backoff_max_s,
        ledger_wait_s=options.ledger_wait_s,
        api_key=options.gateway_key,
    )
    status: str = "interrupted"
    reason: str | None = "stopped before it finished (Ctrl-C or a kill)"
    try:
        if options.gateway:
            _check_gateway(options.gateway)
            tally = _run(execute(plan, run, lab, options.gateway, run_options, progress, worst))
        else:
            config, _ = resolve_config(options.config)
            upstreams = {t.upstream for t in plan.targets.values()}
            spool = spool_file().with_name("lab-ledger-spool.jsonl")
            with LabGateway(config, lab.store, catalog, spool, upstreams) as gateway:
                tally = _run(execute(plan, run, lab, gateway.url, run_options, progress, worst))
        status, reason = _verdict(tally)
    except Exception as exc:  # recorded on the run, then raised as it was
        status, reason = "failed", str(exc) or type(exc).__name__
        raise
    finally:
        lab.set_status(run.id, status, reason)
    return RunOutcome(lab.get_run(run.id), tally, worst_case)


def _check_gateway(url: str) -> None:
    """A gateway answers at ``url`` (its free model list), before any call is sent."""
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/v1/models", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise LabError(f"no llmtally gateway answers at {url}: {exc}") from None


def _run(work: Coroutine[Any, Any, RunTally]) -> RunTally:
    """Run ``work`` to the end; on a thread of its own when this thread already runs
    an event loop (a notebook, a Playwright script)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1, thread_name_prefix="llmtally-lab") as pool:
        return pool.submit(asyncio.run, work).result()


def _verdict(tally: RunTally) -> tuple[str, str | None]:
    if tally.budget_stop is not None:
        return "budget", tally.budget_stop
    if tally.failed:
        return "incomplete", f"{tally.failed} cell(s) failed; run it again to retry them"
    return COMPLETE, None
