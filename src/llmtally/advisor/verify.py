"""Evidence for right-sizing a feature's model: what ``llmtally advise verify``
found when it replayed the feature's recorded prompts through cheaper models.

A verification is a lab run named ``verify:<feature>`` (see
:mod:`llmtally.advisor.verify_run`); its cells are the replays, each with the
user's checks and the ``agreement`` check (:mod:`llmtally.advisor.verify_agree`)
stored beside its output, and its ledger rows are what the replays cost. So the
evidence is read back from the lab's tables (``lab_runs``, ``lab_cells`` and the
run's ledger rows), never kept a second time:

>>> found = latest_verification(store, "support-reply")
>>> found.candidate("gpt-4o-mini").agreement_rate if found else None
0.85

Rates are over the replays that were answered (a replay the provider failed, or
one a budget stop left unrun, is counted apart); a check pass rate is None when
the user gave no checks.

Tokens: the answered replays' output and reasoning tokens (their ledger rows)
beside the recorded calls' of the same prompts (the sampled calls, by the row's
``call_id``), so a lower effort's reasoning ratio is measured on the same prompts
(``o3-mini@low``: ``reasoning_ratio`` = replayed / recorded reasoning).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from llmtally.advisor.verify_agree import AGREEMENT_CHECK, MIN_COLUMN
from llmtally.lab.results import CellResult, load_results
from llmtally.lab.store import LabStore
from llmtally.ledger import Store
from llmtally.ledger.schema import calls, lab_runs

__all__ = [
    "RUN_PREFIX",
    "CandidateEvidence",
    "Verification",
    "latest_verification",
    "run_name",
    "verification_of",
]

RUN_PREFIX = "verify:"
_LOOK_BACK = 20  # runs of a feature looked through for one with a replay


def run_name(feature: str) -> str:
    """The lab run name of a feature's verification."""
    return RUN_PREFIX + feature


@dataclass(frozen=True, slots=True)
class CandidateEvidence:
    """One candidate model's replays of the sample."""

    model: str
    replays: int  # answered replays
    failed: int  # replays the provider did not answer (after retries)
    pending: int  # replays not run (a budget stop, an interruption)
    checks_passed: int | None  # answered replays passing every user check; None: no checks
    agreed: int  # answered replays agreeing with the recorded answer
    cost: Decimal  # what every replay of this model cost (the ledger's rows)
    effort: str | None = None  # asked of the replays: low, budget:1024; None: the default
    replay_output: int = 0  # output tokens of the answered replays (reasoning included)
    replay_reasoning: int = 0  # of which reasoning
    recorded_output: int = 0  # output tokens of the recorded calls of the same prompts
    recorded_reasoning: int = 0  # of which reasoning

    @property
    def reasoning_ratio(self) -> Fraction | None:
        """Replayed over recorded reasoning on the same prompts; None: none recorded."""
        if not self.recorded_reasoning:
            return None
        return Fraction(self.replay_reasoning, self.recorded_reasoning)

    @property
    def check_pass_rate(self) -> float | None:
        if self.checks_passed is None or not self.replays:
            return None
        return self.checks_passed / self.replays

    @property
    def agreement_rate(self) -> float | None:
        return self.agreed / self.replays if self.replays else None


@dataclass(frozen=True, slots=True)
class Verification:
    """The replays of one ``advise verify`` run, per candidate model."""

    feature: str
    run_id: str
    status: str  # the lab run's: complete, budget, incomplete, interrupted, failed
    started_at: dt.datetime
    when: dt.datetime  # when the run last changed (its last replay stored)
    sample: int  # recorded prompts replayed through each candidate
    agreement_min: Decimal | None  # the word-F1 threshold of agreement
    checks: tuple[str, ...]  # the user's checks, by name
    candidates: tuple[CandidateEvidence, ...]  # in the order given

    def candidate(self, model: str) -> CandidateEvidence | None:
        return next((c for c in self.candidates if c.model == model), None)


def _user_checks(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in names if name != AGREEMENT_CHECK)


def _verdicts(cell: CellResult) -> tuple[bool, bool]:
    """(every user check passed, agreed) of an answered replay."""
    checks = cell.record.checks
    passed = all(c.passed for c in checks if c.name != AGREEMENT_CHECK)
    agreed = any(c.passed for c in checks if c.name == AGREEMENT_CHECK)
    return passed, agreed


def _effort(entry: dict[str, Any]) -> str | None:
    """The effort a run's model entry asked for (its plan)."""
    if entry.get("thinking_budget") is not None:
        return f"budget:{entry['thinking_budget']}"
    effort = entry.get("reasoning_effort")
    return None if effort is None else str(effort)


def _recorded(store: Store, ids: list[str]) -> dict[str, tuple[int, int]]:
    """(output, reasoning) tokens of the recorded calls, by id."""
    found: dict[str, tuple[int, int]] = {}
    query = select(calls.c.id, calls.c.output_tokens, calls.c.reasoning_tokens)
    with store.engine.connect() as conn:
        for start in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[start : start + 500]
            for row in conn.execute(query.where(calls.c.id.in_(chunk))):
                found[str(row[0])] = (int(row[1] or 0), int(row[2] or 0))
    return found


def _tokens(cells: list[CellResult], recorded: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Output and reasoning of the answered replays with a ledger row and a recorded
    call, and of those recorded calls: the same prompts on both sides."""
    sums = dict.fromkeys(
        ("replay_output", "replay_reasoning", "recorded_output", "recorded_reasoning"), 0
    )
    for cell in cells:
        call_id = cell.record.row.get("call_id")
        if cell.record.status != "ok" or cell.call is None or call_id not in recorded:
            continue
        output, reasoning = recorded[str(call_id)]
        sums["replay_output"] += cell.call.usage.output_tokens
        sums["replay_reasoning"] += cell.call.usage.reasoning_tokens
        sums["recorded_output"] += output
        sums["recorded_reasoning"] += reasoning
    return sums


def _evidence(
    model: str,
    cells: list[CellResult],
    rows: int,
    checked: bool,
    entry: dict[str, Any],
    recorded: dict[str, tuple[int, int]],
) -> CandidateEvidence:
    answered = [c for c in cells if c.record.status == "ok"]
    verdicts = [_verdicts(c) for c in answered]
    return CandidateEvidence(
        model=model,
        replays=len(answered),
        failed=len(cells) - len(answered),
        pending=rows - len(cells),
        checks_passed=sum(1 for passed, _ in verdicts if passed) if checked else None,
        agreed=sum(1 for _, agreed in verdicts if agreed),
        cost=sum((c.spent for c in cells), Decimal(0)),
        effort=_effort(entry),
        **_tokens(cells, recorded),
    )


def _threshold(cells: list[CellResult]) -> Decimal | None:
    for cell in cells:
        value = cell.record.row.get(MIN_COLUMN)
        if value is not None:
            return Decimal(value)
    return None


def verification_of(lab: LabStore, run_id: str) -> Verification:
    """The evidence of one verification run (RunNotFoundError when there is none)."""
    results = load_results(lab, run_id)
    run = results.run
    rows = int(run.plan.get("rows", 0))
    checks = _user_checks(run.plan.get("checks", []))
    entries = {str(m.get("name")): m for m in run.plan.get("models", [])}
    ids = sorted(
        {str(c.record.row["call_id"]) for c in results.cells if c.record.row.get("call_id")}
    )
    recorded = _recorded(lab.store, ids)
    candidates = tuple(
        _evidence(
            model,
            [c for c in results.cells if c.record.model == model],
            rows,
            bool(checks),
            entries.get(model, {}),
            recorded,
        )
        for model in results.models
    )
    return Verification(
        feature=run.name.removeprefix(RUN_PREFIX),
        run_id=run.id,
        status=run.status,
        started_at=run.created_at,
        when=run.updated_at,
        sample=rows,
        agreement_min=_threshold(results.cells),
        checks=checks,
        candidates=candidates,
    )


def latest_verification(store: Store, feature: str) -> Verification | None:
    """The latest ``advise verify`` of ``feature`` with at least one answered
    replay, read from the lab tables; None when the feature was never verified."""
    query = (
        select(lab_runs.c.id)
        .where(lab_runs.c.name == run_name(feature))
        .order_by(lab_runs.c.created_at.desc(), lab_runs.c.id)
        .limit(_LOOK_BACK)
    )
    with store.engine.connect() as conn:
        run_ids = [str(row[0]) for row in conn.execute(query)]
    lab = LabStore(store)
    for run_id in run_ids:
        found = verification_of(lab, run_id)
        if any(c.replays for c in found.candidates):
            return found
    return None
