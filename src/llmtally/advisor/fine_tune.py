"""Fine-tune: a long instruction (system prompt) sent with every call, which a
fine-tuned smaller model could learn once instead of reading each time.

Per (system prompt fingerprint, provider, model), from one SQL query
(``fingerprint_rows``), for a model a fine-tune may replace
(``fine_tune_prices``: gpt-4o and gpt-4o-mini -> fine-tuned gpt-4o-mini)::

    fine-tuned cost   = (input tokens - system tokens x calls) x FT input price
                        + output tokens x FT output price        (per cell, working copy)
    saving / month    = (working-copy cost - fine-tuned cost) x period.to_month
    training (once)   = EXAMPLES x tokens per example x EPOCHS x training price
                        tokens per example = the calls' average input without the
                        instruction + output (what a training example holds)
    months to pay back = training / saving per month

Rule: recommended only when it pays back within ``HORIZON_MONTHS`` (3); the
saving shown is net of the training amortised over the horizon (training / 3
a month), which the change adds to the fine-tuned cost of the cells in
proportion to their tokens (``flat_share``; the shares add up exactly). Each
cell is billed ``at_flat_cost``, so a later change (self-hosting) prices on it.

Only cells whose every call sent this instruction are moved (a cell mixing
prompts cannot be split on the working copy); an instruction whose calls vary
in size (one fingerprint should be one prompt) is left out. Fine-tuned calls
are priced at the standard tier without a prompt cache (conservative: a batch
or cached call of the current model keeps its discount on the "before" side).

Trap, considered: a short or rarely used instruction whose training does not
pay back within the horizon ("pays back in N months, beyond ..."), with its
net monthly saving (negative).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.fine_tune_prices import CHECKED, FineTune, fine_tune_for
from llmtally.advisor.fingerprint_rows import FingerprintCell, fingerprint_cells
from llmtally.advisor.flat_share import split_by_tokens, state_tokens
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered
from llmtally.advisor.working import CellState, Part, Working, at_flat_cost
from llmtally.money import usd

__all__ = [
    "EPOCHS",
    "EXAMPLES",
    "HORIZON_MONTHS",
    "KIND",
    "TunePlan",
    "fine_tune_recommender",
    "tuned_cost",
]

KIND = "fine_tune"
EXAMPLES = 1000
EPOCHS = 3
HORIZON_MONTHS = 3
_MILLION = Decimal(1_000_000)
Group = tuple[str, str, str]  # fingerprint, provider, model


@dataclass(frozen=True, slots=True)
class TunePlan:
    """A fine-tune of one instruction: its cells, costs and payback."""

    tune: FineTune
    system: int  # tokens of the instruction, per call
    rows: tuple[FingerprintCell, ...]
    calls: int
    gross: Decimal  # saving over the period before training
    training: Decimal
    example_tokens: int

    def monthly(self, period: Period) -> Decimal:
        return self.gross * period.to_month

    def payback_months(self, period: Period) -> Decimal | None:
        monthly = self.monthly(period)
        return self.training / monthly if monthly > 0 else None


def tuned_cost(state: CellState, system: int, tune: FineTune) -> Decimal:
    """The cell's calls on the fine-tuned model, without the instruction."""
    sent = state.usage.input_tokens - system * state.calls
    return (sent * tune.input + state.usage.output_tokens * tune.output) / _MILLION


def _eligible(row: FingerprintCell, period: Period, working: Working) -> bool:
    cell, state = period.cells[row.cell], working.state(row.cell)
    media = bool(cell.usage.images) or cell.usage.audio_seconds is not None
    return row.calls == cell.calls and state.calls > 0 and state.flat is None and not media


def _plan(rows: list[FingerprintCell], tune: FineTune, working: Working) -> TunePlan | None:
    system = rows[0].system_min
    if system <= 0 or any(r.system_min != system or r.system_max != system for r in rows):
        return None
    gross = Decimal(0)
    for row in rows:
        state = working.state(row.cell)
        before = working.price(row.cell, state)
        if before is None:
            return None
        gross += before - tuned_cost(state, system, tune)
    calls = sum(row.calls for row in rows)
    kept = sum(row.input_tokens - row.system_tokens + row.output_tokens for row in rows)
    per_example = int((Decimal(kept) / calls).to_integral_value(rounding=ROUND_CEILING))
    training = EXAMPLES * per_example * EPOCHS * tune.training / _MILLION
    return TunePlan(tune, system, tuple(rows), calls, gross, training, per_example)


def _parts(plan: TunePlan, period: Period, working: Working) -> tuple[Part, ...]:
    amortised = plan.training / HORIZON_MONTHS / period.to_month
    cells = [row.cell for row in plan.rows]
    shares = split_by_tokens(amortised, [state_tokens(working.state(cid)) for cid in cells])
    parts: list[Part] = []
    for cid, share in zip(cells, shares, strict=True):
        state = working.state(cid)
        flat = tuned_cost(state, plan.system, plan.tune) + share
        parts.append((cid, at_flat_cost(flat)))
    return tuple(parts)


def _where(key: Group, plan: TunePlan, period: Period) -> dict[str, str]:
    features = sorted({period.cells[row.cell].feature for row in plan.rows})
    return {
        "feature": ", ".join(features),
        "provider": key[1],
        "model": key[2],
        "fingerprint": key[0],
    }


def _months(value: Decimal) -> str:
    return f"{value:.2f}"


def _considered(key: Group, plan: TunePlan, period: Period) -> Considered | None:
    monthly = plan.monthly(period)
    net = monthly - plan.training / HORIZON_MONTHS
    payback = plan.payback_months(period)
    where = _where(key, plan, period)
    if payback is None:
        reason = (
            f"the fine-tuned {plan.tune.base} would cost {usd(-monthly)}/month more than "
            f"these calls with their {plan.system:,}-token instruction"
        )
        return Considered(KIND, where, reason, net)
    if payback > HORIZON_MONTHS:
        reason = (
            f"pays back in {_months(payback)} months, beyond the {HORIZON_MONTHS}-month "
            f"horizon: training {usd(plan.training)} once, saving {usd(monthly)}/month"
        )
        return Considered(KIND, where, reason, net)
    return None


def _assumptions(plan: TunePlan, period: Period) -> tuple[str, ...]:
    return (
        f"training: {EXAMPLES:,} examples x {plan.example_tokens:,} tokens (the calls' "
        f"average without the instruction) x {EPOCHS} epochs at "
        f"${plan.tune.training}/1M = {usd(plan.training)} once",
        f"the saving shown is net of the training spread over {HORIZON_MONTHS} months "
        f"({usd(plan.training / HORIZON_MONTHS)}/month); after that it is "
        f"{usd(plan.monthly(period))}/month",
        f"the fine-tuned {plan.tune.base} at ${plan.tune.input} in / ${plan.tune.output} out "
        f"per 1M (OpenAI fine-tuning prices read {CHECKED}), standard tier, no prompt cache",
        f"the {plan.system:,}-token instruction is no longer sent; the rest of each call is sent "
        "as now, with the same output",
        f"the same traffic as the period: {plan.calls:,} calls, scaled to 30 days",
    )


def _how(plan: TunePlan, key: Group) -> str:
    return "\n".join(
        [
            f"# 1. {EXAMPLES:,} recorded calls of this instruction as training examples "
            f"(messages without the system prompt, the {key[2]} answer as the assistant turn):",
            'file = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")',
            f'job = client.fine_tuning.jobs.create(model="{plan.tune.base}",',
            f'    training_file=file.id, hyperparameters={{"n_epochs": {EPOCHS}}})',
            "# 2. send the calls to job.fine_tuned_model without the system prompt;",
            "#    compare first: llmtally advise verify FEATURE --models ft:...",
        ]
    )


def _candidate(key: Group, plan: TunePlan, period: Period, working: Working) -> Candidate:
    payback = plan.payback_months(period)
    assert payback is not None
    return Candidate(
        kind=KIND,
        title=f"Fine-tune {plan.tune.base} on the {plan.system:,}-token instruction",
        where=_where(key, plan, period),
        evidence={
            "fingerprint": key[0],
            "model": key[2],
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "fine_tuned": plan.tune.base,
            "instruction_tokens": str(plan.system),
            "training_usd": f"{plan.training.normalize():f}",
            "gross_monthly_usd": f"{plan.monthly(period).normalize():f}",
            "payback_months": _months(payback),
            "horizon_months": str(HORIZON_MONTHS),
        },
        parts=_parts(plan, period, working),
        calls=plan.calls,
        assumptions=_assumptions(plan, period),
        confidence=Confidence(
            "low",
            "a smaller fine-tuned model must match the current answers without the "
            "instruction: verify on a sample before switching",
        ),
        how_to_apply=_how(plan, key),
    )


def fine_tune_recommender(period: Period, working: Working) -> Found:
    """One candidate per instruction whose fine-tune pays back within the horizon."""
    groups: dict[Group, list[FingerprintCell]] = defaultdict(list)
    for row in fingerprint_cells(period):
        if _eligible(row, period, working):
            state = working.state(row.cell)
            groups[(row.fingerprint, state.provider, state.model)].append(row)
    found = Found()
    for key, rows in sorted(groups.items()):
        tune = fine_tune_for(working.catalog, key[1], key[2])
        plan = None if tune is None else _plan(rows, tune, working)
        if plan is None:
            continue
        left = _considered(key, plan, period)
        if left is not None:
            found.considered.append(left)
        else:
            found.candidates.append(_candidate(key, plan, period, working))
    return found
