"""``llmtally advise verify FEATURE --models m1,m2``: evidence for right-sizing a
feature's model. A sample of the feature's recorded prompts is replayed through
each candidate in the lab, each answer judged by the user's checks and by its
agreement with the recorded answer, next to what moving the feature would save
a month (:mod:`llmtally.advisor.verify_run`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmtally.cli.advise_cmd import advise_app
from llmtally.cli.calls_cmd import DatabaseOption, parse_since
from llmtally.cli.common import fail, open_catalog, print_json, stderr

if TYPE_CHECKING:  # imported where used, so that the command line starts quickly
    import datetime as dt

    from rich.console import Console

    from llmtally.advisor.verify import CandidateEvidence
    from llmtally.advisor.verify_run import VerifyReport, VerifyRequest
    from llmtally.advisor.verify_saving import Repricing

__all__ = ["report_json", "verify"]

MEASURE = "token-set F1 of normalised words (NFKC, case-folded, \\w+ runs)"


def _moment(text: str, name: str) -> dt.datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        fail(str(exc).replace("--since", name, 1), 1)


def _models(text: str) -> tuple[str, ...]:
    models = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    if not models:
        fail("--models: give one model or more, comma-separated (gpt-4o-mini,local/smollm2)", 1)
    return models


def _amount(text: str, name: str, low: Decimal, high: Decimal | None = None) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"{name}: {text!r} is not a number", 1)
    if not value.is_finite() or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"above {low}"
        fail(f"{name}: {text} must be {span}", 1)
    return value


def _request(**values: Any) -> VerifyRequest:
    from llmtally.advisor.verify_run import VerifyRequest

    return VerifyRequest(**values)


@advise_app.command("verify")
def verify(
    feature: str = typer.Argument(..., help="The feature whose recorded prompts are replayed."),
    models: str = typer.Option(..., "--models", help="Candidate models, comma-separated."),
    since: str = typer.Option("30d", "--since", help="30d, 2w, or a date/time."),
    until: str | None = typer.Option(None, "--until", help="End (excluded): a date/time."),
    sample: int = typer.Option(20, "--sample", min=1, max=1000, help="Prompts to replay."),
    check: list[str] = typer.Option(  # noqa: B008 (typer's way)
        [], "--check", help="A check in the lab's syntax, e.g. 'contains: refund' (repeatable)."
    ),
    checks: Path | None = typer.Option(None, "--checks", help="A YAML list of checks."),
    agreement: str = typer.Option(
        "0.6", "--agreement", help="Agreement: word F1 with the recorded answer at least this."
    ),
    max_usd: str | None = typer.Option(None, "--max-usd", help="Budget cap for the replays."),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", min=1, help="Per answer (default: 2x the longest recorded one)."
    ),
    effort: str | None = typer.Option(
        None,
        "--effort",
        help="Replay at this reasoning effort: minimal, low, medium, high (OpenAI), "
        "or budget:TOKENS (thinking budget: Anthropic, Gemini).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Exact JSON (docs/advice-schema.md)."),
    database: str | None = DatabaseOption,
    config: Path | None = typer.Option(
        None, "--config", help="Gateway config (env LLMTALLY_CONFIG; default ./llmtally.yaml)."
    ),
) -> None:
    """Replay a sample of FEATURE's recorded prompts through cheaper models.

    Per model: how often its answers pass the checks and agree with the recorded
    ones, what the sample cost, and what moving the feature saves a month."""
    import datetime as dt

    from llmtally.advisor.verify_run import VerifyError, check_specs

    start = _moment(since, "--since")
    end = dt.datetime.now(dt.UTC) if until is None else _moment(until, "--until")
    if end <= start:
        fail(f"--until ({end:%Y-%m-%d %H:%M}) must be after --since ({start:%Y-%m-%d %H:%M})", 1)
    try:
        specs = check_specs(check, checks)
    except VerifyError as exc:
        fail(str(exc), 1)
    asked = None
    if effort is not None:
        from llmtally.advisor.verify_effort import parse_effort

        try:
            asked = parse_effort(effort)
        except ValueError as exc:
            fail(str(exc), 1)
    request = _request(
        feature=feature,
        models=_models(models),
        since=start,
        until=end,
        sample=sample,
        checks=specs,
        agreement_min=_amount(agreement, "--agreement", Decimal(0), Decimal(1)),
        max_tokens=max_tokens,
        max_usd=None if max_usd is None else _amount(max_usd, "--max-usd", Decimal("0.000001")),
        config=config,
        database_url=database,
        effort=asked,
    )
    report = _run(request)
    if as_json:
        print_json(report_json(report))
        return
    from rich.console import Console

    _print(Console(highlight=False), report)


def _run(request: VerifyRequest) -> VerifyReport:
    """The verification; every failure a message and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from llmtally.advisor.verify_run import VerifyError, verify_feature
    from llmtally.catalog import CatalogFileError
    from llmtally.cli.lab_cmd import _Bar
    from llmtally.gateway.local import LocalModelError
    from llmtally.lab.runner import LabError
    from llmtally.lab.spec import ExperimentError

    catalog = open_catalog()
    bar = _Bar()
    try:
        return verify_feature(request, catalog, bar)
    except (VerifyError, ExperimentError, CatalogFileError) as exc:
        fail(str(exc), 1)
    except (LabError, LocalModelError, SQLAlchemyError, OSError) as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        bar.stop()
        stderr().print("interrupted: `llmtally lab resume RUN` finishes the replays")
        raise typer.Exit(130) from None
    finally:
        bar.stop()


def _rate(count: int | None, of: int) -> str:
    """``2/3 67%`` (the percentage rounded half up); a dash without checks or replays."""
    if count is None or not of:
        return "—"
    return f"{count}/{of} {(200 * count + of) // (2 * of)}%"


def _print(console: Console, report: VerifyReport) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from llmtally.fit_table import snug
    from llmtally.money import usd

    found = report.verification
    window = f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    console.print(
        f"[bold]advise verify {escape(report.feature)}[/]: {found.sample} of its "
        f"{report.calls:,} calls, each replayed through every model (lab run "
        f"{found.run_id}: {found.status})"
    )
    table = Table(
        title=f"traffic of {window}", box=box.SIMPLE, show_edge=False, padding=(0, 1, 0, 0)
    )
    table.add_column("model", overflow="fold", ratio=1)
    table.add_column("replays", justify="right", no_wrap=True)
    table.add_column("checks pass", justify="right", no_wrap=True)
    table.add_column("agree", justify="right", no_wrap=True)
    table.add_column("sample cost", justify="right", no_wrap=True)
    table.add_column("saves $/month", justify="right", no_wrap=True)
    for evidence in found.candidates:
        priced = report.repricing.get(evidence.model)
        saving = usd(priced.monthly_saving) if priced is not None and priced.calls else "—"
        table.add_row(
            evidence.model,
            str(evidence.replays),
            _rate(evidence.checks_passed, evidence.replays),
            _rate(evidence.agreed, evidence.replays),
            usd(evidence.cost),
            saving,
        )
    console.print(snug(table))
    from rich.padding import Padding
    from rich.text import Text

    for line in _notes(report):  # wrapped to the console, every line indented
        console.print(Padding(Text(line), (0, 0, 0, 2), expand=False))


def _notes(report: VerifyReport) -> list[str]:
    from llmtally.advisor.verify_saving import SAME_TOKENS

    found = report.verification
    checks = ", ".join(found.checks) if found.checks else "none given"
    notes = [
        f"agree: word F1 with the recorded answer >= {report.agreement_min}; checks: {checks}",
        f"assumes: {SAME_TOKENS}",
    ]
    for reason, count in report.skipped.items():
        notes.append(f"skipped {count} sampled call(s): {reason}")
    unpriced = {p.unpriced for p in report.repricing.values() if p.unpriced}
    if unpriced:
        notes.append(f"saving leaves out up to {max(unpriced):,} call(s) without a price")
    for evidence in found.candidates:
        ratio = evidence.reasoning_ratio
        if evidence.effort is not None and ratio is not None:
            notes.append(
                f"{evidence.model}: reasoning {evidence.replay_reasoning:,} tokens over the "
                f"replays, {evidence.recorded_reasoning:,} in the recorded calls of the same "
                f"prompts ({float(ratio):.0%})"
            )
        if evidence.failed or evidence.pending:
            notes.append(
                f"{evidence.model}: {evidence.failed} replay(s) failed, {evidence.pending} not run"
            )
    if report.stop_reason:
        notes.append(f"stopped: {report.stop_reason} (llmtally lab resume {found.run_id})")
    notes.append(f"replays and outputs: llmtally lab show {found.run_id}")
    return notes


def _repricing_json(priced: Repricing | None) -> dict[str, Any] | None:
    from llmtally.meter import decimal_text

    if priced is None:
        return None
    known = priced.calls > 0  # none priced: no saving to say (not a saving of 0)
    return {
        "provider": priced.provider,
        "calls": priced.calls,
        "unpriced": priced.unpriced,
        "period_cost": decimal_text(priced.current) if known else None,
        "period_cost_on_candidate": decimal_text(priced.candidate) if known else None,
        "period_saving": decimal_text(priced.saving) if known else None,
        "monthly_saving": decimal_text(priced.monthly_saving) if known else None,
    }


def _candidate_json(evidence: CandidateEvidence, report: VerifyReport) -> dict[str, Any]:
    from llmtally.meter import decimal_text

    return {
        "model": evidence.model,
        "replays": evidence.replays,
        "failed": evidence.failed,
        "pending": evidence.pending,
        "checks_passed": evidence.checks_passed,
        "check_pass_rate": evidence.check_pass_rate,
        "agreed": evidence.agreed,
        "agreement_rate": evidence.agreement_rate,
        "sample_cost": decimal_text(evidence.cost),
        "effort": evidence.effort,
        "tokens": _tokens_json(evidence),
        "repricing": _repricing_json(report.repricing.get(evidence.model)),
    }


def _tokens_json(evidence: CandidateEvidence) -> dict[str, Any]:
    """The answered replays' output and reasoning tokens (the ledger's rows of the
    replays) beside the recorded calls' of the same prompts, and their ratio."""
    ratio = evidence.reasoning_ratio
    return {
        "replay_output": evidence.replay_output,
        "replay_reasoning": evidence.replay_reasoning,
        "recorded_output": evidence.recorded_output,
        "recorded_reasoning": evidence.recorded_reasoning,
        "reasoning_ratio": None if ratio is None else float(ratio),
    }


def report_json(report: VerifyReport) -> dict[str, Any]:
    """The report as JSON-ready values (docs/advice-schema.md, ``advise verify``)."""
    from llmtally.advisor.verify_saving import SAME_TOKENS

    found = report.verification
    return {
        "feature": report.feature,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "run_id": found.run_id,
        "status": found.status,
        "stop_reason": report.stop_reason,
        "when": found.when.isoformat(),
        "experiment": None if report.experiment is None else str(report.experiment),
        "calls": report.calls,
        "with_bodies": report.with_bodies,
        "sample": {"picked": report.picked, "replayed": found.sample, "skipped": report.skipped},
        "agreement": {"measure": MEASURE, "min": str(report.agreement_min)},
        "effort": None if report.effort is None else report.effort.text,
        "checks": list(found.checks),
        "assumptions": [SAME_TOKENS],
        "candidates": [_candidate_json(c, report) for c in found.candidates],
    }
