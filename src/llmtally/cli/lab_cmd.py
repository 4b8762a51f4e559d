"""``llmtally lab run|resume|show|compare|list``: prompts x models side by side."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from llmtally.cli.common import (
    HomeOption,
    OverrideOption,
    fail,
    open_catalog,
    print_json,
    stderr,
)

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    from rich.progress import Progress, TaskID

    from llmtally.lab.plan import Cell
    from llmtally.lab.session import LabOptions, RunOutcome
    from llmtally.ledger import Store

__all__ = ["app"]

app = typer.Typer(
    help="Run prompts against many models side by side, with cost, latency and output.",
    no_args_is_help=True,
)

DatabaseOption = typer.Option(
    None, "--database-url", "--database", help="Ledger database (env LLMTALLY_DATABASE_URL)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of tables.")
MaxUsdOption = typer.Option(
    None,
    "--max-usd",
    help="Budget cap for the whole run (earlier sessions included): a call starts only if "
    "its worst case still fits.",
)
ConcurrencyOption = typer.Option(
    4, "--concurrency", min=1, max=64, help="Calls in flight per provider."
)
GatewayOption = typer.Option(
    None,
    "--gateway",
    help="URL of a running `llmtally serve` (default: start a gateway in-process).",
)
GatewayKeyOption = typer.Option(
    None,
    "--gateway-key",
    envvar="LLMTALLY_GATEWAY_KEY",
    help="Gateway key (llt-...) when the gateway asks for one (env LLMTALLY_GATEWAY_KEY).",
)
ConfigOption = typer.Option(
    None, "--config", help="Gateway config (env LLMTALLY_CONFIG; default ./llmtally.yaml)."
)


class _Bar:
    """The run's progress on stderr (rich)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress: Progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr(),
            transient=False,
        )
        self.task: TaskID | None = None
        self.failed = 0

    def started(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("lab", total=total, completed=done)

    def finished(self, cell: Cell, ok: bool) -> None:
        self.failed += 0 if ok else 1
        if self.task is not None:
            label = f"lab ({self.failed} failed)" if self.failed else "lab"
            self.progress.update(self.task, advance=1, description=label)

    def retrying(self, cell: Cell, error: str, delay: float) -> None:
        self.progress.console.print(
            f"[yellow]retry[/] {cell.model} / {cell.prompt_id} / row {cell.row_index + 1} "
            f"in {delay:.1f} s: {error if len(error) <= 160 else error[:159] + '…'}",
            markup=True,
            highlight=False,
        )

    def interrupted(self) -> None:
        self.progress.console.print(
            "[yellow]interrupted:[/] finishing the calls in flight (they are paid for); "
            "Ctrl-C again stops at once",
            markup=True,
        )

    def stop(self) -> None:
        self.progress.stop()


def _money(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        fail(f"--max-usd: {text!r} is not an amount of dollars")
    if not amount.is_finite() or amount <= 0:
        fail(f"--max-usd: must be above 0, got {text}")
    return amount


def _open(database: str | None) -> Store:
    from llmtally.cli.calls_cmd import _open as open_ledger

    return open_ledger(database)


def _lab_failure(exc: BaseException) -> NoReturn:
    fail(str(exc), code=1)


def _execute(start: Any, options: LabOptions, as_json: bool) -> None:
    """Run ``start(options, progress)``, then print the results."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.gateway.local import LocalModelError
    from llmtally.lab.runner import LabError
    from llmtally.lab.spec import ExperimentError
    from llmtally.lab.store import RunNotFoundError

    bar = _Bar()
    try:
        outcome: RunOutcome = start(options, bar)
    except ExperimentError as exc:
        fail(str(exc))
    except (LabError, RunNotFoundError, LocalModelError, SQLAlchemyError, OSError) as exc:
        _lab_failure(exc)
    except KeyboardInterrupt:
        bar.stop()
        stderr().print("interrupted: `llmtally lab run` on the same experiment resumes it")
        raise typer.Exit(130) from None
    finally:
        bar.stop()
    _show(outcome.run.id, options.database_url, as_json, outputs=True, full=False)
    if not as_json and outcome.run.status != "complete":
        stderr().print(f"run {outcome.run.id}: {outcome.run.status} — {outcome.run.stop_reason}")


def _options(**values: Any) -> LabOptions:
    from llmtally.lab.session import LabOptions

    return LabOptions(**values)


@app.command("run")
def run(
    experiment: Path = typer.Argument(..., help="The experiment file (YAML)."),
    max_usd: str | None = MaxUsdOption,
    concurrency: int = ConcurrencyOption,
    gateway: str | None = GatewayOption,
    gateway_key: str | None = GatewayKeyOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
    new: bool = typer.Option(False, "--new", help="Start a new run even if one can resume."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Run every prompt x row x model x repetition; a run of the same experiment
    resumes where the last one stopped."""
    from llmtally.lab.session import run_experiment

    options = _options(
        config=config,
        database_url=database,
        gateway=gateway,
        gateway_key=gateway_key,
        max_usd=_money(max_usd),
        concurrency=concurrency,
        new=new,
    )
    catalog = open_catalog(home, prices_file)
    _execute(lambda o, p: run_experiment(experiment, o, p, catalog), options, as_json)


@app.command("resume")
def resume(
    run_id: str = typer.Argument(..., metavar="RUN", help="Run id (or a unique prefix)."),
    max_usd: str | None = MaxUsdOption,
    concurrency: int = ConcurrencyOption,
    gateway: str | None = GatewayOption,
    gateway_key: str | None = GatewayKeyOption,
    config: Path | None = ConfigOption,
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
    prices_file: Path | None = OverrideOption,
) -> None:
    """Go on with a run from its experiment file, skipping finished cells."""
    from llmtally.lab.session import resume_run

    options = _options(
        config=config,
        database_url=database,
        gateway=gateway,
        gateway_key=gateway_key,
        max_usd=_money(max_usd),
        concurrency=concurrency,
    )
    catalog = open_catalog(home, prices_file)
    _execute(lambda o, p: resume_run(run_id, o, p, catalog), options, as_json)


def _show(
    run_id: str | None, database: str | None, as_json: bool, outputs: bool, full: bool
) -> None:
    from rich.console import Console

    from llmtally.cli.lab_render import results_view
    from llmtally.lab.report import results_json
    from llmtally.lab.results import load_results
    from llmtally.lab.store import LabStore, RunNotFoundError

    with _open(database) as store:
        try:
            results = load_results(LabStore(store), run_id)
        except RunNotFoundError as exc:
            _lab_failure(exc)
    if as_json:
        print_json(results_json(results, outputs))
    else:
        Console(highlight=False).print(results_view(results, outputs, full))


@app.command("show")
def show(
    run_id: str | None = typer.Argument(None, metavar="[RUN]", help="Run id (default: latest)."),
    outputs: bool = typer.Option(True, "--outputs/--no-outputs", help="List every output."),
    full: bool = typer.Option(False, "--full", help="Outputs in full, not cut short."),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """A run's matrix: pass rate, cost, latency per prompt x model, and the outputs."""
    _show(run_id, database, as_json, outputs, full)


@app.command("compare")
def compare(
    run_a: str = typer.Argument(..., metavar="RUN_A"),
    run_b: str = typer.Argument(..., metavar="RUN_B"),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Two runs side by side: pass rate, cost, cost per pass and latency."""
    from rich.console import Console

    from llmtally.cli.lab_render import compare_table
    from llmtally.lab.report import compare_json, compare_runs
    from llmtally.lab.results import load_results
    from llmtally.lab.store import LabStore, RunNotFoundError

    with _open(database) as store:
        lab = LabStore(store)
        try:
            comparison = compare_runs(load_results(lab, run_a), load_results(lab, run_b))
        except RunNotFoundError as exc:
            _lab_failure(exc)
    if as_json:
        print_json(compare_json(comparison))
    else:
        Console(highlight=False).print(compare_table(comparison))


@app.command("list")
def list_runs(
    limit: int = typer.Option(50, "--limit", min=1, help="How many runs."),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The lab runs in the ledger, newest first."""
    from rich.console import Console

    from llmtally.cli.lab_render import runs_table
    from llmtally.lab.report import run_json
    from llmtally.lab.store import LabStore

    with _open(database) as store:
        runs = LabStore(store).list_runs(limit)
    if as_json:
        print_json([run_json(r) for r in runs])
    else:
        Console(highlight=False).print(runs_table(runs))
