"""Lower the reasoning effort (issue 15, "Cap output and reasoning"): for a group
whose reasoning is more than half of its output (``cap_output``), the lab's
evidence that the same model at a lower effort serves, and what that saves.

The evidence is the feature's latest ``llmtally advise verify`` (``verify``): a
candidate named ``MODEL@EFFORT`` (``verify_effort``) of the group's model that
passes the thresholds ``right_size`` holds a model to (``lab_failure``: at least
``MIN_REPLAYS`` answered replays, a check pass rate of ``PASS_RATE_MIN`` when
checks were given, an agreement rate of ``AGREEMENT_RATE_MIN``). Of several
passing efforts, the one that reasoned least. Its ratio r = the replays'
reasoning tokens / the recorded calls' on the same prompts, and each cell of the
group keeps r of its reasoning tokens (its current state on the working copy,
rounded down what goes): (1 - r) of them go, as output tokens alike
(``token_changes.fewer_output``: reasoning is part of the output), re-priced on
the working copy. Without such evidence, or where it fails, the group is
considered, not recommended, with the exact ``advise verify --effort`` command:
the next level below the effort the calls asked for (``low`` when unknown).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from llmtally.advisor.candidate import Candidate
from llmtally.advisor.cap_rows import OutputGroup
from llmtally.advisor.cells import NO_FEATURE
from llmtally.advisor.grouping import by_feature_model, call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered, Level
from llmtally.advisor.right_size import HIGH_REPLAYS, lab_failure
from llmtally.advisor.token_changes import fewer_output, thinned
from llmtally.advisor.verify import CandidateEvidence, Verification, latest_verification
from llmtally.advisor.verify_effort import EFFORT_LEVELS, Effort, split_label
from llmtally.advisor.working import Part, Working
from llmtally.lab.plan import ANTHROPIC_MIN_THINKING, THINKING_BUDGET

__all__ = ["EffortEvidence", "effort_result", "lower_effort", "next_effort"]

KIND = "cap_output"


class EffortEvidence:
    """The latest verification of each feature, read once per advise."""

    def __init__(self, period: Period) -> None:
        self._period = period
        self._seen: dict[str, Verification | None] = {}

    def of(self, feature: str) -> Verification | None:
        if feature == NO_FEATURE:
            return None
        if feature not in self._seen:
            self._seen[feature] = latest_verification(self._period.store, feature)
        return self._seen[feature]


def next_effort(asked: str | None) -> str:
    """The level below the one asked (``low`` when not known or mixed; ``minimal``
    has none below it)."""
    if asked in EFFORT_LEVELS:
        return EFFORT_LEVELS[max(EFFORT_LEVELS.index(asked) - 1, 0)]
    return "low"


def _percent(part: int, whole: int) -> str:
    return f"{(Decimal(100 * part) / whole).quantize(Decimal('0.1'))}%"


def _tried(verification: Verification | None, model: str) -> list[CandidateEvidence]:
    """The verification's candidates of ``model`` at another effort."""
    if verification is None:
        return []
    return [c for c in verification.candidates if split_label(c.model)[0] == model and c.effort]


def _judged(found: CandidateEvidence) -> str | None:
    """Why a lower effort's replays are no evidence; None: they are."""
    failure = lab_failure(found)
    if failure is not None:
        return failure
    ratio = found.reasoning_ratio
    if ratio is None:
        return "the recorded calls of the replayed prompts have no reasoning tokens"
    if ratio >= 1:
        return f"it reasoned as much as the recorded calls (ratio {float(ratio):.2f})"
    return None


def _considered(group: OutputGroup, verification: Verification | None) -> Considered:
    feature, _, model = group.key
    asked = "" if group.effort is None else f"; effort asked: {group.effort}"
    said = [
        f"reasoning is {_percent(group.reasoning, group.output)} of the output tokens "
        f"({group.reasoning:,} of {group.output:,}{asked})"
    ]
    for found in _tried(verification, model):
        why = _judged(found)
        assert verification is not None
        if why is not None:
            said.append(f"{found.model} in lab run {verification.run_id}: {why}")
    command = (
        f"llmtally advise verify {feature} --models {model} --effort {next_effort(group.effort)}"
    )
    said.append(
        "a lower effort is not recommended without lab evidence that it passes the same "
        f"checks: run `{command}`"
    )
    return Considered(KIND, where(group.key), "; ".join(said))


def _parts(group: OutputGroup, period: Period, working: Working, ratio: Fraction) -> list[Part]:
    """Each cell of the group loses (1 - ratio) of the reasoning it still holds."""
    parts: list[Part] = []
    for cell in by_feature_model(period.cells).get(group.key, []):
        reasoning = working.state(cell.id).usage.reasoning_tokens
        cut = reasoning * (ratio.denominator - ratio.numerator) // ratio.denominator
        if cut > 0:
            parts.append((cell.id, fewer_output(cut, cut)))
    return parts


def _ratio_text(ratio: Fraction) -> str:
    """r to 4 places, trailing zeros dropped (1/4: "0.25")."""
    exact = Decimal(ratio.numerator) / Decimal(ratio.denominator)
    return f"{exact.quantize(Decimal('0.0001')).normalize():f}"


def _how(group: OutputGroup, effort: Effort, provider: str, run_id: str) -> str:
    feature, _, model = group.key
    head = f"# {feature} ({model}): the lab's replays at {effort.text} passed the same checks\n"
    if provider == "openai":
        call = (
            "response = client.chat.completions.create(\n"
            f'    model="{model}", messages=messages,\n'
            f'    reasoning_effort="{effort.level}",\n)'
        )
    elif provider == "anthropic":
        budget = effort.budget or max(
            THINKING_BUDGET[effort.level or "low"], ANTHROPIC_MIN_THINKING
        )
        call = (
            "response = client.messages.create(\n"
            f'    model="{model}", messages=messages, max_tokens=MAX_TOKENS,\n'
            f'    thinking={{"type": "enabled", "budget_tokens": {budget}}},\n)'
        )
    else:
        budget = (
            effort.budget if effort.budget is not None else THINKING_BUDGET[effort.level or "low"]
        )
        call = (
            "response = client.models.generate_content(\n"
            f'    model="{model}", contents=contents,\n'
            "    config=types.GenerateContentConfig(\n"
            f"        thinking_config=types.ThinkingConfig(thinking_budget={budget}),\n"
            "    ),\n)"
        )
    return f"{head}{call}\n# The lab's replays: llmtally lab show {run_id}"


def _confidence(found: CandidateEvidence) -> Confidence:
    levels: tuple[Level, ...] = ("high", "medium", "low")
    level = 0 if found.replays >= HIGH_REPLAYS else 1
    rates = f"agreement {found.agreement_rate or 0:.2f}"
    if found.check_pass_rate is not None:
        rates = f"check pass rate {found.check_pass_rate:.2f}, {rates}"
    why = f"{found.replays} replays at {found.effort} in the lab: {rates}"
    if level:
        why += f" (fewer than {HIGH_REPLAYS} replays)"
    if found.checks_passed is None:
        level += 1
        why += "; no checks of your own were given: agreement with the recorded answers only"
    return Confidence(levels[level], why)


def lower_effort(
    group: OutputGroup,
    found: CandidateEvidence,
    verification: Verification,
    period: Period,
    working: Working,
) -> Candidate | None:
    """The change of a passing lower effort (None: no reasoning left to cut)."""
    ratio = found.reasoning_ratio
    effort = split_label(found.model)[1]
    assert ratio is not None and effort is not None
    parts = _parts(group, period, working, ratio)
    if not parts:
        return None
    kept = f"{float(ratio):.1%}"
    scaled = thinned((cell for cell, _ in parts), working)
    return Candidate(
        kind=KIND,
        title=f"Lower the reasoning effort to {effort.text}",
        where=where(group.key),
        evidence={
            **call_filter(group.key, period),
            "effort": effort.text,
            "run_id": verification.run_id,
            "verified_at": verification.when.astimezone(dt.UTC).isoformat(),
            "replays": str(found.replays),
            "check_pass_rate": "none"
            if found.check_pass_rate is None
            else f"{found.check_pass_rate:.2f}",
            "agreement_rate": f"{found.agreement_rate or 0:.2f}",
            "replay_reasoning_tokens": str(found.replay_reasoning),
            "recorded_reasoning_tokens": str(found.recorded_reasoning),
            "reasoning_ratio": _ratio_text(ratio),
        },
        parts=tuple(parts),
        calls=sum(working.state(cell).calls for cell, _ in parts),
        assumptions=(
            f"reasoning at {effort.text} is {kept} of the recorded: measured on "
            f"{found.replays} replays in lab run {verification.run_id} "
            f"({found.replay_reasoning:,} reasoning tokens replayed, "
            f"{found.recorded_reasoning:,} recorded on the same prompts)",
            "every call keeps that share of its reasoning; the answers stay as long",
            f"the traffic of the {period.days.normalize():f} day(s) repeats over a 30-day month",
            *(() if scaled is None else (scaled,)),
        ),
        confidence=_confidence(found),
        how_to_apply=_how(group, effort, group.key[1], verification.run_id),
    )


def effort_result(
    group: OutputGroup, period: Period, working: Working, lab: EffortEvidence
) -> Candidate | Considered:
    """A reasoning-led group: a lower effort the lab passed, else considered."""
    verification = lab.of(group.key[0])
    passing = [f for f in _tried(verification, group.key[2]) if _judged(f) is None]
    if verification is not None and passing:
        best = min(passing, key=lambda f: f.reasoning_ratio or 1)
        found = lower_effort(group, best, verification, period, working)
        if found is not None:
            return found
    return _considered(group, verification)
