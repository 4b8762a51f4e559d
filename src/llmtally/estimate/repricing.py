"""What the recorded calls would have cost on other models, next to what they cost.

Token counts move between tokenizers one of three ways, and every figure says
which (calls per method):

- ``retokenized``: across tokenizers only, the stored request and response
  text (``call_bodies``, not truncated) counted with the target's tokenizer;
  cache reads and writes keep their share of the prompt, and hidden reasoning
  (never in the text) is converted by the corpus ratio.
- ``ratio``: counts times the ratio of the two tokenizers' counts of the
  built-in English corpus; ``same tokenizer``: the recorded model itself, or
  one with its tokenizer, takes the provider-reported counts unchanged (they
  are the truth for that tokenizer), so a model re-priced on itself at the
  same price costs exactly what it cost.
- ``as recorded``: no offline tokenizer is known for the source or the
  target; counts are carried over unchanged.

Choices (see docs/decisions.md): converted counts are exact fractions (an
expectation, not rounded per call) and each reported amount is rounded once,
half-even, to 10 places; reasoning tokens carry over to targets the catalog
marks as reasoning models and are dropped (visible output only) for others,
and none are invented for a reasoning target of a non-reasoning source (a
lower bound, noted); cache reads and writes carry over as recorded (a target
without a write premium bills writes as input, the meter's fallback); the
service tier carries over, or falls back to standard where the target does not
offer it (noted); image and audio tokens carry over unchanged. Targets are
priced at one moment (default: now). Calls without a recorded cost, and calls
priced per unit (images, audio by duration, characters), are left out and
counted.

Amounts are USD, as the ledger's: a target priced in another currency (a CNY
file) is converted at the latest rate on or before the pricing day (the
ledger's own table, :func:`llmtally.currency.pivot.usd_rate`), the rate named
in the target's notes; with no rate the target cannot be priced (its error
says why), never summed as if it were dollars. A request that reports
reasoning bills its answer at the thinking rate where the target has one; a
cliff that needs a long answer (``output_above``) is decided on the call's
converted output (for a group: its output per call, as the meter decides a sum).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from llmtally.catalog import Catalog
from llmtally.catalog.matching import ModelRef
from llmtally.catalog.price import Price
from llmtally.config import open_catalog
from llmtally.currency.pivot import usd_rate
from llmtally.estimate.bodies import retokenize
from llmtally.estimate.convert import Conversions
from llmtally.estimate.rates import RateCard, RateKind, as_tier, offers_tier, output_size
from llmtally.estimate.reprice_query import (
    GROUP_KEYS,
    CallRow,
    Group,
    each_call,
    grouped,
    source_models,
)
from llmtally.estimate.reprice_result import (
    Figure,
    RatioLine,
    Repricing,
    RepricingRow,
    TargetInfo,
    ratio_text,
)
from llmtally.ledger.store import Store
from llmtally.meter import PricingError
from llmtally.tokens.registry import TokenizerRegistry, default_registry

__all__ = ["BY", "Repricing", "reprice"]

BY = tuple(GROUP_KEYS)
LEFT_OUT = {
    "unpriced": "no recorded cost",
    "per_unit": "priced per unit (images, audio, characters)",
}


@dataclass(slots=True)
class _Target:
    label: str
    ref: ModelRef
    price: Price
    tokenizer: str | None
    reasoning: bool
    cliffs: tuple[int, ...]
    error: str | None = None
    notes: Counter[str] = field(default_factory=Counter)
    fx: Decimal = Decimal(1)  # 1 unit of the price's currency in USD
    fx_note: str | None = None  # the rate used, counted per call priced with it


@dataclass(frozen=True, slots=True)
class _Source:
    tokenizer: str | None
    reasoning: bool


def _cliffs(price: Price) -> tuple[int, ...]:
    found = {c.above for c in price.long_context}
    for tier in price.tiers.values():
        found.update(c.above for c in tier.long_context)
    return tuple(sorted(found))


def _target(catalog: Catalog, conv: Conversions, name: str, at: dt.datetime) -> _Target:
    ref = catalog.lookup(None, name)
    price = catalog.price_of(ref, at)
    try:
        tokenizer: str | None = conv.tokenizer_name(ref.provider, ref.spec.id)
    except LookupError:
        tokenizer = None
    label = f"{ref.provider}/{ref.spec.id}"
    found = _Target(label, ref, price, tokenizer, ref.spec.kind == "reasoning", _cliffs(price))
    if price.currency != "USD":
        try:
            rate = usd_rate(price.currency, at.date())
        except (LookupError, ValueError) as exc:  # no rate that day; a bad rates file
            found.error = f"priced in {price.currency}, not converted to USD: {exc}"
            return found
        found.fx = rate.rate
        found.fx_note = (
            f"priced in {price.currency}, converted at 1 {price.currency} = {rate.rate} USD "
            f"({rate.rate_date.isoformat()}, {rate.source})"
        )
    return found


def _source(catalog: Catalog, conv: Conversions, provider: str, model: str) -> _Source:
    try:
        ref = catalog.lookup(provider, model)
    except LookupError:
        return _Source(None, False)
    try:
        tokenizer: str | None = conv.tokenizer_name(ref.provider, ref.spec.id)
    except LookupError:
        tokenizer = None
    return _Source(tokenizer, ref.spec.kind == "reasoning")


def _ratio(conv: Conversions, source: _Source, target: _Target) -> tuple[Fraction, str]:
    if source.tokenizer is None or target.tokenizer is None:
        return Fraction(1), "as recorded"
    if source.tokenizer == target.tokenizer:
        return Fraction(1), "same tokenizer"
    return conv.ratio(source.tokenizer, target.tokenizer), "ratio"


def _threshold(cliff: int, ratio: Fraction) -> int:
    """The source prompt size above which ``ratio`` x size is above ``cliff``."""
    return cliff * ratio.denominator // ratio.numerator


def _cost(
    counts: dict[str, int], ratios: tuple[Fraction, Fraction, Fraction], keep: bool, card: RateCard
) -> Fraction:
    """USD of one call's (or a group's summed) counts on the target: input-side
    text times ``ratios[0]``, visible output times ``ratios[1]``, reasoning times
    ``ratios[2]`` (kept only for reasoning targets), media tokens unchanged."""
    c = counts
    r_in, r_out, r_reason = ratios
    reasoning = c["reasoning_tokens"] if keep else 0
    cached = c["cache_read_tokens"] + c["cache_write_tokens"]
    media_in = c["input_audio_tokens"] + c["input_image_tokens"]
    media_out = c["output_audio_tokens"] + c["output_image_tokens"]
    answer: RateKind = "output_thinking" if reasoning else "output"
    terms: tuple[tuple[RateKind, Fraction | int], ...] = (
        ("input", (c["input_tokens"] - cached - media_in) * r_in),
        ("cache_read", c["cache_read_tokens"] * r_in),
        ("cache_write", (c["cache_write_tokens"] - c["cache_write_1h_tokens"]) * r_in),
        ("cache_write_1h", c["cache_write_1h_tokens"] * r_in),
        ("input_audio", c["input_audio_tokens"]),
        ("input_image", c["input_image_tokens"]),
        (answer, (c["output_tokens"] - c["reasoning_tokens"] - media_out) * r_out),
        ("reasoning", reasoning * r_reason),
        ("output_audio", c["output_audio_tokens"]),
        ("output_image", c["output_image_tokens"]),
        ("request", c["requests"]),
    )
    total = Fraction(0)
    for kind, tokens in terms:
        if tokens:
            total += Fraction(tokens) * Fraction(card.rate(kind))
    return total


@dataclass(slots=True)
class _Run:
    conv: Conversions
    targets: list[_Target]
    catalog: Catalog
    sources: dict[tuple[str, str], _Source] = field(default_factory=dict)
    cards: dict[tuple[int, str, int, int], RateCard] = field(default_factory=dict)
    rows: dict[str | None, RepricingRow] = field(default_factory=dict)

    def card(
        self, target: _Target, name: str, prompt: int, calls: int, output: int = 0
    ) -> RateCard:
        tier = as_tier(name)
        if not offers_tier(target.price, tier):
            target.notes[f"{tier} tier not offered: priced at standard"] += calls
            tier = "standard"
        size = output_size(target.price, output)
        key = (id(target.price), tier, prompt, size)
        found = self.cards.get(key)
        if found is None:
            found = RateCard(target.price, tier, prompt, size, target.fx)
            self.cards[key] = found
        return found

    def source(self, provider: str, model: str) -> _Source:
        found = self.sources.get((provider, model))
        if found is None:
            found = _source(self.catalog, self.conv, provider, model)
            self.sources[(provider, model)] = found
        return found

    def row(self, key: str | None) -> RepricingRow:
        found = self.rows.get(key)
        if found is None:
            found = RepricingRow(key, figures={t.label: Figure() for t in self.targets})
            self.rows[key] = found
        return found

    def note_reasoning(
        self, target: _Target, source: _Source, counts: dict[str, int], n: int
    ) -> None:
        if target.reasoning and not source.reasoning:
            target.notes[
                "reasoning target, non-reasoning source: no reasoning added (a lower bound)"
            ] += n
        elif not target.reasoning and counts["reasoning_tokens"]:
            target.notes["not a reasoning model: recorded reasoning tokens dropped"] += n


def _output(
    counts: dict[str, int], ratios: tuple[Fraction, Fraction, Fraction], keep: bool, calls: int
) -> int:
    """One call's output on the target (a group's: per call), whole tokens
    (half-even): what a cliff with ``output_above`` looks at."""
    c = counts
    media = c["output_audio_tokens"] + c["output_image_tokens"]
    visible = (c["output_tokens"] - c["reasoning_tokens"] - media) * ratios[1]
    reasoning = c["reasoning_tokens"] * ratios[2] if keep else 0
    return round((visible + reasoning + media) / max(calls, 1))


def _prompt(cliffs: Sequence[int], above: Sequence[bool]) -> int:
    """A prompt size that crosses exactly the cliffs marked ``above``."""
    crossed = [cliff for cliff, up in zip(cliffs, above, strict=True) if up]
    return max(crossed) + 1 if crossed else 0


def _add_group(run: _Run, group: Group, thresholds: list[int]) -> None:
    source = run.source(group.provider, group.model)
    row = run.row(group.key)
    row.calls += group.calls
    row.actual += group.actual
    for target in run.targets:
        if target.error is not None:
            continue
        ratio, method = _ratio(run.conv, source, target)
        above = [
            thresholds.index(_threshold(cliff, ratio)) < group.size_class for cliff in target.cliffs
        ]
        ratios = (ratio, ratio, ratio)
        output = _output(group.counts, ratios, target.reasoning, group.calls)
        prompt = _prompt(target.cliffs, above)
        card = run.card(target, group.tier, prompt, group.calls, output)
        run.note_reasoning(target, source, group.counts, group.calls)
        try:
            amount = _cost(group.counts, ratios, target.reasoning, card)
        except PricingError as exc:
            target.error = str(exc)
            continue
        row.figures[target.label].add(amount, method, group.calls)
        if target.fx_note is not None:
            target.notes[target.fx_note] += group.calls


def _call_ratios(
    run: _Run, call: CallRow, source: _Source, target: _Target
) -> tuple[tuple[Fraction, Fraction, Fraction], str]:
    ratio, method = _ratio(run.conv, source, target)
    if (
        call.request_body is None
        or call.response_body is None
        or target.tokenizer is None
        # the recorded model itself, or one with its tokenizer: the provider's
        # reported counts are the truth (they include what the text does not show)
        or source.tokenizer == target.tokenizer
    ):
        return (ratio, ratio, ratio), method
    c = call.counts
    tokenizer = run.conv.tokenizer(target.tokenizer)
    counted = retokenize(call.request_body, call.response_body, call.endpoint, tokenizer)
    media_in = c["input_audio_tokens"] + c["input_image_tokens"]
    visible = (
        c["output_tokens"]
        - c["reasoning_tokens"]
        - c["output_audio_tokens"]
        - c["output_image_tokens"]
    )
    text_in = c["input_tokens"] - media_in
    if counted is None or media_in or not text_in or not visible:
        return (ratio, ratio, ratio), method
    return (Fraction(counted[0], text_in), Fraction(counted[1], visible), ratio), "retokenized"


def _add_call(run: _Run, call: CallRow) -> None:
    source = run.source(call.provider, call.model)
    row = run.row(call.key)
    row.calls += 1
    row.actual += call.actual
    c = call.counts
    for target in run.targets:
        if target.error is not None:
            continue
        ratios, method = _call_ratios(run, call, source, target)
        media_in = c["input_audio_tokens"] + c["input_image_tokens"]
        prompt = math.ceil((c["input_tokens"] - media_in) * ratios[0] + media_in)
        above = [prompt > cliff for cliff in target.cliffs]
        output = _output(c, ratios, target.reasoning, 1)
        card = run.card(target, call.tier, _prompt(target.cliffs, above), 1, output)
        run.note_reasoning(target, source, c, 1)
        try:
            amount = _cost(c, ratios, target.reasoning, card)
        except PricingError as exc:
            target.error = str(exc)
            continue
        row.figures[target.label].add(amount, method, 1)
        if target.fx_note is not None:
            target.notes[target.fx_note] += 1


def _thresholds(run: _Run, groups: Sequence[Group] = ()) -> list[int]:
    """Every source-token threshold a target's cliff needs (after adding the
    sources of ``groups``)."""
    for group in groups:
        run.source(group.provider, group.model)
    found: set[int] = set()
    for source in run.sources.values():
        for target in run.targets:
            ratio, _ = _ratio(run.conv, source, target)
            found.update(_threshold(cliff, ratio) for cliff in target.cliffs)
    return sorted(found)


def reprice(
    store: Store,
    models: Sequence[str],
    since: dt.datetime,
    until: dt.datetime | None = None,
    by: str = "feature",
    *,
    catalog: Catalog | None = None,
    registry: TokenizerRegistry | None = None,
    at: dt.datetime | None = None,
) -> Repricing:
    """The calls in ``[since, until)`` re-priced on each of ``models`` (priced at
    ``at``, default now), per ``by`` group and in total. UnknownModelError /
    NoPriceError for a target that cannot be priced at all; ValueError for a bad
    range or group."""
    if by not in GROUP_KEYS:
        raise ValueError(f"cannot group by {by!r}: choose one of {', '.join(GROUP_KEYS)}")
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValueError("since and until must be timezone-aware (e.g. UTC)")
    catalog = catalog or open_catalog()
    conv = Conversions(registry or default_registry())
    moment = at or dt.datetime.now(dt.UTC)
    targets = [_target(catalog, conv, name, moment) for name in dict.fromkeys(models)]
    run = _Run(conv, targets, catalog)
    with store.engine.connect() as conn:
        for seen in source_models(conn, since, until):
            run.source(seen.provider, seen.model)
        thresholds = _thresholds(run)
        groups = grouped(conn, since, until, by, thresholds)
        complete = _thresholds(run, groups)
        if complete != thresholds:  # a source the rollups did not list: once more
            thresholds = complete
            groups = grouped(conn, since, until, by, thresholds)
        left_out = Counter[str]()
        for group in groups:
            if group.kind == "grouped":
                _add_group(run, group, thresholds)
            elif group.kind != "single":
                left_out[LEFT_OUT[group.kind]] += group.calls
        if any(group.kind == "single" for group in groups):
            for call in each_call(conn, since, until, by):
                _add_call(run, call)
    infos = [TargetInfo(t.label, t.error, dict(t.notes)) for t in targets]
    window = (since, until, moment.date(), by)
    counts = {why: left_out[why] for why in LEFT_OUT.values()}
    return Repricing.build(window, infos, list(run.rows.values()), counts, _ratio_lines(run))


def _ratio_lines(run: _Run) -> list[RatioLine]:
    """The conversion used for every (source tokenizer, target) pair seen."""
    out: dict[tuple[str, str], RatioLine] = {}
    for source in run.sources.values():
        for target in run.targets:
            ratio, method = _ratio(run.conv, source, target)
            name = source.tokenizer or "(none known)"
            out.setdefault(
                (name, target.label), RatioLine(name, target.label, method, ratio_text(ratio))
            )
    return sorted(out.values(), key=lambda line: (line.source_tokenizer, line.target))
