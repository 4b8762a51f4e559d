"""Right-size the model: move a feature to a cheaper model that the lab showed
serves it (``llmtally advise verify``).

Candidates per (feature, provider, model): the cheaper models of the same
provider in ``LADDER`` (hand-kept: each step no dearer per input and per output
token, one of them cheaper; catalog ids), plus every model the feature's latest
verification tried (``latest_verification``). Each is priced on the working copy
with ``to_model``: the cells re-priced with the same token counts at the
candidate's catalog price (``SAME_TOKENS``: its tokenizer may count
differently); cells the candidate cannot price are left as they are.

A candidate is recommended only with lab evidence that it serves: in the latest
verification it has at least ``MIN_REPLAYS`` answered replays, a check pass rate
of at least ``PASS_RATE_MIN`` (when the user gave checks) and an agreement rate
with the recorded answers of at least ``AGREEMENT_RATE_MIN``. Of the passing
candidates, the one that saves the most on this traffic (the cheapest) is the
one recommendation of the (feature, model). Every other model the lab tried is
considered, not recommended, with why: failed the lab (its rates), too few
replays, more expensive on this traffic, or another passing model saves more;
the ladder's models the lab has not tried are considered (one line, with the
command that would verify them) when they would save more than the one chosen.

Confidence: ``HIGH_REPLAYS`` replays or more is high, fewer is medium; one level
lower when the user gave no checks (agreement alone).

Its place in ``advise.RECOMMENDERS``: after duplicates (a response cache removes
calls; the model change applies to the calls still sent) and before prompt
caching and batch. A model change re-prices every token, so it is shown on the
traffic as sent, and caching and batch are then priced at the new model's cache
and batch rates (the working copy's state carries the model): together they add
up, never double count. The catch: the prompt-cache recommender reads the
provider's minimum cacheable prefix by the cell's recorded model, so after a move
to a model with a larger minimum (claude-sonnet-4: 1,024 tokens; claude-haiku-4-5:
4,096) caching may be priced on a prefix the new model would not cache.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select

from llmtally.advisor.candidate import Candidate, Found
from llmtally.advisor.cells import NO_FEATURE, Cell
from llmtally.advisor.grouping import Key, by_feature_model, call_filter, where
from llmtally.advisor.period import Period
from llmtally.advisor.recommendation import Confidence, Considered, Level
from llmtally.advisor.verify import RUN_PREFIX, CandidateEvidence, Verification, latest_verification
from llmtally.advisor.verify_effort import split_label
from llmtally.advisor.verify_saving import SAME_TOKENS
from llmtally.advisor.working import Part, Working, to_model
from llmtally.catalog import Catalog
from llmtally.lab.store import LabStore, RunNotFoundError
from llmtally.ledger import Store
from llmtally.ledger.schema import lab_runs
from llmtally.money import usd

__all__ = [
    "AGREEMENT_RATE_MIN",
    "HIGH_REPLAYS",
    "KIND",
    "LADDER",
    "MIN_REPLAYS",
    "PASS_RATE_MIN",
    "lab_failure",
    "ladder",
    "right_size_recommender",
]

KIND = "right_size"
PASS_RATE_MIN = Fraction(95, 100)  # answered replays passing every user check
AGREEMENT_RATE_MIN = Fraction(80, 100)  # answered replays agreeing with the recorded answer
MIN_REPLAYS = 10  # answered replays before a rate is evidence at all
HIGH_REPLAYS = 30  # answered replays for high confidence

# provider -> catalog model id -> cheaper models of the same provider, most capable first.
LADDER: dict[str, dict[str, tuple[str, ...]]] = {
    "openai": {
        "gpt-4": ("gpt-4o", "gpt-4o-mini"),
        "gpt-4-turbo": ("gpt-4o", "gpt-4o-mini"),
        "gpt-4o": ("gpt-4o-mini",),
        "gpt-4o-2024-05-13": ("gpt-4o-mini",),
        "gpt-4o-2024-08-06": ("gpt-4o-mini",),
        "gpt-4.1": ("gpt-4.1-mini", "gpt-4.1-nano"),
        "gpt-4.1-mini": ("gpt-4.1-nano",),
        "gpt-5": ("gpt-5-mini", "gpt-5-nano"),
        "gpt-5-mini": ("gpt-5-nano",),
        "o1": ("o3", "o4-mini"),
        "o3": ("o4-mini",),
    },
    "anthropic": {
        "claude-opus-4-5": ("claude-sonnet-4-5", "claude-haiku-4-5"),
        "claude-opus-4-1": ("claude-sonnet-4-5", "claude-haiku-4-5"),
        "claude-opus-4": ("claude-sonnet-4", "claude-haiku-4-5"),
        "claude-3-opus": ("claude-3-5-sonnet", "claude-3-5-haiku"),
        "claude-sonnet-4-5": ("claude-haiku-4-5",),
        "claude-sonnet-4": ("claude-haiku-4-5", "claude-3-5-haiku"),
        "claude-3-7-sonnet": ("claude-3-5-haiku",),
        "claude-3-5-sonnet": ("claude-3-5-haiku",),
        "claude-3-5-haiku": ("claude-3-haiku",),
    },
    "google": {
        "gemini-2.5-pro": ("gemini-2.5-flash", "gemini-2.5-flash-lite"),
        "gemini-2.5-flash": ("gemini-2.5-flash-lite",),
        "gemini-2.0-flash": ("gemini-2.0-flash-lite",),
        "gemini-1.5-pro": ("gemini-1.5-flash",),
    },
    "mistral": {
        "mistral-large-2411": ("mistral-medium-2505", "mistral-small-2501"),
        "mistral-large-2512": ("mistral-small-2501",),
        "mistral-medium-2505": ("mistral-small-2501",),
    },
    "xai": {"grok-4": ("grok-3-mini",), "grok-3": ("grok-3-mini",)},
    "groq": {"llama-3.3-70b-versatile": ("llama-3.1-8b-instant",)},
}

_CALL_SITE = {
    "openai": 'client.chat.completions.create(model="MODEL", ...)',
    "anthropic": 'client.messages.create(model="MODEL", ...)',
    "google": 'client.models.generate_content(model="MODEL", ...)',
}


def _catalog_id(catalog: Catalog, provider: str, model: str) -> tuple[str, str]:
    """(provider, the catalog's id of ``model``): a dated snapshot reads as its
    catalog entry; a name the catalog does not know stays as it is."""
    try:
        ref = catalog.lookup(provider, model)
    except LookupError:
        return provider, model
    return ref.provider, ref.spec.id


def ladder(catalog: Catalog, provider: str, model: str) -> tuple[str, ...]:
    """The cheaper models of ``model``'s rung; () when it has none."""
    provider, model = _catalog_id(catalog, provider, model)
    return LADDER.get(provider, {}).get(model, ())


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What the lab says of one candidate: its verification and its replays."""

    verification: Verification
    found: CandidateEvidence


@dataclass(frozen=True, slots=True)
class _Option:
    """One candidate model priced on a group's cells."""

    provider: str
    model: str
    parts: tuple[Part, ...]
    calls: int
    unpriced: int  # calls the candidate cannot price: left as they are
    saving: Decimal  # over the period, on the working copy
    lab: _Evidence | None


def _rate(rate: float | None) -> str:
    return "none (no checks given)" if rate is None else f"{rate:.2f}"


def lab_failure(found: CandidateEvidence) -> str | None:
    """Why the replays do not show that the candidate serves; None: they do."""
    return _failure(found)


def _failure(found: CandidateEvidence) -> str | None:
    """Why the replays do not show that the candidate serves; None: they do."""
    if found.replays < MIN_REPLAYS:
        return f"too few replays in the lab: {found.replays} < {MIN_REPLAYS}"
    why = []
    passed = found.checks_passed
    if passed is not None and Fraction(passed, found.replays) < PASS_RATE_MIN:
        why.append(f"pass rate {_rate(found.check_pass_rate)} < {float(PASS_RATE_MIN):.2f}")
    if Fraction(found.agreed, found.replays) < AGREEMENT_RATE_MIN:
        why.append(f"agreement {_rate(found.agreement_rate)} < {float(AGREEMENT_RATE_MIN):.2f}")
    return "failed the lab: " + ", ".join(why) if why else None


def _providers(store: Store, verification: Verification) -> dict[str, str]:
    """The catalog provider of each model the verification tried (its lab plan)."""
    try:
        plan = LabStore(store).get_run(verification.run_id).plan
    except RunNotFoundError:
        return {}
    return {str(m["name"]): str(m["provider"]) for m in plan.get("models", []) if "provider" in m}


class _Lab:
    """The latest verification of each feature, read once; one query first finds
    the features that have any (most have none)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._seen: dict[str, tuple[Verification | None, dict[str, str]]] = {}
        query = select(lab_runs.c.name).where(lab_runs.c.name.startswith(RUN_PREFIX)).distinct()
        with store.engine.connect() as conn:
            names = conn.execute(query).scalars()
            self._verified = {str(name).removeprefix(RUN_PREFIX) for name in names}

    def of(self, feature: str) -> tuple[Verification | None, dict[str, str]]:
        if feature not in self._seen:
            found = None
            if feature in self._verified and feature != NO_FEATURE:
                found = latest_verification(self._store, feature)
            providers = {} if found is None else _providers(self._store, found)
            self._seen[feature] = (found, providers)
        return self._seen[feature]


def _option(
    cells: list[Cell], provider: str, model: str, working: Working, lab: _Evidence | None
) -> _Option:
    change = to_model(provider, model)
    parts: list[Part] = []
    unpriced = 0
    for cell in cells:
        state = working.state(cell.id)
        if working.price(cell.id, change(state)) is None:
            unpriced += state.calls
        else:
            parts.append((cell.id, change))
    calls = sum(working.state(cid).calls for cid, _ in parts)
    return _Option(provider, model, tuple(parts), calls, unpriced, working.saving(parts), lab)


def _movable(cells: list[Cell], working: Working) -> list[Cell]:
    """The cells still sent to their recorded model (no earlier change moved them)."""
    states = [(cell, working.state(cell.id)) for cell in cells]
    return [c for c, s in states if s.calls and s.flat is None and s.model == c.model]


def _options(key: Key, cells: list[Cell], working: Working, lab: _Lab) -> list[_Option]:
    """Every candidate of the group (the ladder's, then the lab's), priced."""
    feature, provider, model = key
    verification, providers = lab.of(feature)
    names = list(ladder(working.catalog, provider, model))
    if verification is not None:  # a model at another effort is cap_output's evidence
        names += [
            c.model
            for c in verification.candidates
            if c.model not in names and split_label(c.model)[1] is None
        ]
    options = []
    for name in names:
        target = providers.get(name, provider)
        if _catalog_id(working.catalog, target, name) == _catalog_id(
            working.catalog, provider, model
        ):
            continue
        found = None if verification is None else verification.candidate(name)
        evidence = None if found is None or verification is None else _Evidence(verification, found)
        options.append(_option(cells, target, name, working, evidence))
    return options


def _confidence(found: CandidateEvidence) -> Confidence:
    levels: tuple[Level, ...] = ("high", "medium", "low")
    level = 0 if found.replays >= HIGH_REPLAYS else 1
    rates = f"agreement {_rate(found.agreement_rate)}"
    if found.checks_passed is not None:
        rates = f"check pass rate {_rate(found.check_pass_rate)}, {rates}"
    why = f"{found.replays} replays in the lab: {rates}"
    if level:
        why += f" (fewer than {HIGH_REPLAYS} replays)"
    if found.checks_passed is None:
        level += 1
        why += "; no checks of your own were given: agreement with the recorded answers only"
    return Confidence(levels[level], why)


def _how(key: Key, best: _Option, run_id: str) -> str:
    feature, provider, model = key
    call = _CALL_SITE.get(best.provider, 'model="MODEL"').replace("MODEL", best.model)
    across = ""
    if best.provider != provider:
        across = (
            f"# ({best.provider}'s model: its client, or the llmtally gateway that routes it)\n"
        )
    return (
        f"# Send the calls of feature {feature} (header x-llmtally-feature: {feature})\n"
        f"# to {best.model} instead of {model}, where they are made:\n"
        f"{across}{call}\n"
        f"# The lab's replays: llmtally lab show {run_id}"
    )


def _assumptions(best: _Option, verification: Verification) -> tuple[str, ...]:
    said = [
        SAME_TOKENS,
        "answers as long as the recorded ones, at the prices in force at each call",
        f"the {verification.sample} recorded prompts replayed in lab run {verification.run_id} "
        f"({verification.when:%Y-%m-%d}) stand for the feature's traffic",
    ]
    if best.unpriced:
        said.append(f"{best.unpriced:,} calls {best.model} cannot price stay as they are")
    return tuple(said)


def _evidence(key: Key, best: _Option, lab: _Evidence, period: Period) -> dict[str, str]:
    found = lab.found
    return {
        **call_filter(key, period),
        "to": f"{best.provider}/{best.model}",
        "run_id": lab.verification.run_id,
        "verified_at": lab.verification.when.astimezone(dt.UTC).isoformat(),
        "replays": str(found.replays),
        "check_pass_rate": _rate(found.check_pass_rate),
        "agreement_rate": _rate(found.agreement_rate),
    }


def _recommend(key: Key, best: _Option, period: Period) -> Candidate:
    assert best.lab is not None
    return Candidate(
        kind=KIND,
        title=f"Move to {best.model}",
        where=where(key),
        evidence=_evidence(key, best, best.lab, period),
        parts=best.parts,
        calls=best.calls,
        assumptions=_assumptions(best, best.lab.verification),
        confidence=_confidence(best.lab.found),
        how_to_apply=_how(key, best, best.lab.verification.run_id),
    )


def _considered(key: Key, option: _Option, period: Period, why: str) -> Considered:
    monthly = option.saving * period.to_month
    reason = f"{option.model} would save {usd(monthly)}/month; {why}"
    return Considered(KIND, where(key), reason, monthly)


def _no_saving(key: Key, option: _Option, period: Period) -> Considered:
    """A model the lab tried that saves nothing on this traffic."""
    if not option.parts:
        reason = f"{option.model}: the catalog cannot price these calls on it"
        return Considered(KIND, where(key), reason)
    monthly = option.saving * period.to_month
    reason = f"{option.model} would cost {usd(-monthly)}/month more on this traffic"
    return Considered(KIND, where(key), reason, monthly)


def _unverified(key: Key, options: list[_Option], period: Period) -> Considered:
    """One line for the models the lab has not tried, with the command that would."""
    feature = key[0]
    said = [f"{o.model} would save {usd(o.saving * period.to_month)}/month" for o in options]
    if feature == NO_FEATURE:
        how = "calls without a feature cannot be verified: tag them (x-llmtally-feature)"
    else:
        names = ",".join(o.model for o in options)
        how = f"not verified: run `llmtally advise verify {feature} --models {names}`"
    best = max(o.saving for o in options) * period.to_month
    return Considered(KIND, where(key), f"{', '.join(said)}; {how}", best)


def _judged(key: Key, options: list[_Option], period: Period) -> tuple[Found, Decimal]:
    """The models the lab tried: the one passing that saves most, recommended;
    the others considered, with why. And the saving recommended (0: none)."""
    found = Found()
    passing = []
    for option in options:
        assert option.lab is not None
        failure = _failure(option.lab.found)
        if option.saving <= 0:
            found.considered.append(_no_saving(key, option, period))
        elif failure is not None:
            why = f"{failure} (run {option.lab.verification.run_id})"
            found.considered.append(_considered(key, option, period, why))
        else:
            passing.append(option)
    if not passing:
        return found, Decimal(0)
    passing.sort(key=lambda o: o.saving, reverse=True)
    found.candidates.append(_recommend(key, passing[0], period))
    for other in passing[1:]:
        why = f"it passed the lab too, but {passing[0].model} saves more"
        found.considered.append(_considered(key, other, period, why))
    return found, passing[0].saving


def _group(key: Key, cells: list[Cell], period: Period, working: Working, lab: _Lab) -> Found:
    movable = _movable(cells, working)
    if not movable:
        return Found()
    options = _options(key, movable, working, lab)
    found, chosen = _judged(key, [o for o in options if o.lab is not None], period)
    # unverified models worth verifying: those that would save more than the one chosen
    unverified = [o for o in options if o.lab is None and o.saving > chosen]
    if unverified:
        found.considered.append(_unverified(key, unverified, period))
    return found


def right_size_recommender(period: Period, working: Working) -> Found:
    """At most one model change per (feature, model), backed by the lab."""
    lab = _Lab(period.store)
    found = Found()
    for key, cells in sorted(by_feature_model(period.cells).items()):
        part = _group(key, cells, period, working, lab)
        found.candidates.extend(part.candidates)
        found.considered.extend(part.considered)
    return found
