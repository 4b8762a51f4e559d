"""Workload x catalog x tokenizers -> the projected cost of each model.

Each kind of call (the request, each background call) is counted per language
and priced per service tier at the meter's per-token rates for that prompt
size (see :mod:`llmtally.estimate.rates`), weighted by the language and tier
shares and by calls per request. Prompt caching is priced as it is billed: of
the cacheable prefix, a share ``hit_rate`` is read at the read price and the
rest written at the write price (plain input where the provider charges no
write premium); its net saving against no caching is reported, negative when
the writes cost more than the reads save. Media, embedding queries and fees
are per request; corpus embedding and vector storage are monthly.

A request whose workload has reasoning tokens bills its answer at the thinking
rate where the price has one (``output_thinking``), and a cliff that needs a
long answer (``output_above``) is decided on the call's output (its answer and
reasoning, whole tokens). Figures are in one currency: the prices' own when
every price the estimate uses is in it (vector storage is priced in USD), else
``currency`` (USD unless named), each price converted at the latest rate on or
before the estimate's price date (:func:`llmtally.currency.convert`, the shipped
table with the user's override file over it); the rates used are in
``Estimate.fx``. A model whose price has no rate gets an error row, never an
amount ranked as if it were in another currency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from llmtally.catalog import Catalog
from llmtally.catalog.matching import ModelRef, UnknownModelError, UnknownProviderError
from llmtally.catalog.price import Price
from llmtally.config import open_catalog
from llmtally.currency import Converted, Money, NoRateError, RateTable, convert, open_rates
from llmtally.estimate.convert import Conversions, corpus_languages
from llmtally.estimate.files import WorkloadError, WorkloadFile
from llmtally.estimate.profile import PARTS, Shape, Shaper
from llmtally.estimate.rates import RateCard, output_size, require_tier
from llmtally.estimate.result import (
    COMPONENTS,
    SOURCES,
    CacheLine,
    CallLine,
    Estimate,
    FxLine,
    ModelEstimate,
    Tally,
    divide,
)
from llmtally.estimate.workload import CacheSpec, CallSpec, TierShares, Workload
from llmtally.meter import PricingError, cost
from llmtally.tokens.base import TokenizerUnavailableError
from llmtally.tokens.registry import TokenizerRegistry, default_registry
from llmtally.usage import ImageUnits, ServiceTier, Usage

__all__ = ["DEFAULT_MODELS", "estimate"]

# Current general-purpose models, one or two per vendor, for `--models default`.
DEFAULT_MODELS = (
    "openai/gpt-4.1-mini",
    "openai/gpt-4o-mini",
    "openai/gpt-5-mini",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
    "google/gemini-2.5-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-2501",
)
_MAIN_SOURCES = {"system_prompt": "system", "user_input": "prompt", "context": "context"}
_BREAK_EVEN_PLACES = Decimal("0.0001")
_GB = 9  # 1 GB = 1e9 bytes


@dataclass(slots=True)
class _Context:
    loaded: WorkloadFile
    catalog: Catalog
    conversions: Conversions
    moment: dt.datetime
    languages: list[tuple[str, Decimal]]
    counted_with: str | None
    fixed: dict[str, ModelRef]
    currency: str = "USD"
    rates: RateTable | None = None
    _shapers: dict[int, Shaper] = field(default_factory=dict)
    _cards: dict[tuple[int, str, int, int], RateCard] = field(default_factory=dict)
    _fx: dict[str, Converted] = field(default_factory=dict)

    @property
    def workload(self) -> Workload:
        return self.loaded.workload

    def price(self, ref: ModelRef) -> Price:
        return self.catalog.price_of(ref, self.moment)

    def shaper(self, ref: ModelRef) -> Shaper:
        found = self._shapers.get(id(ref.spec))
        if found is None:
            found = Shaper(self.conversions, ref, self.counted_with)
            self._shapers[id(ref.spec)] = found
        return found

    def fx(self, code: str) -> Decimal:
        """1 ``code`` in the estimate's currency at the price date; PricingError
        (the row cannot be priced) when there is no rate."""
        if code == self.currency:
            return Decimal(1)
        found = self._fx.get(code)
        if found is None:
            rates = self.rates if self.rates is not None else open_rates()
            try:
                found = convert(Money(Decimal(1), code), self.currency, self.moment.date(), rates)
            except NoRateError as exc:
                raise PricingError(
                    f"priced in {code}, not comparable in {self.currency}: {exc}"
                ) from None
            self._fx[code] = found
        return found.rate

    def fx_lines(self) -> tuple[FxLine, ...]:
        return tuple(FxLine.of(found) for _, found in sorted(self._fx.items()))

    def card(
        self, price: Price, tier: ServiceTier, prompt: int, output: Decimal | int = 0
    ) -> RateCard:
        require_tier(price, tier)
        size = output_size(price, output)
        key = (id(price), tier, prompt, size)
        found = self._cards.get(key)
        if found is None:
            found = RateCard(price, tier, prompt, size, self.fx(price.currency))
            self._cards[key] = found
        return found

    def model_for(self, key: str, compared: ModelRef) -> ModelRef:
        return self.fixed.get(key, compared)


@dataclass(frozen=True, slots=True)
class _Job:
    """One kind of call: its profile, model, calls per request and tiers."""

    name: str
    spec: CallSpec
    ref: ModelRef
    weight: Decimal
    tiers: TierShares
    background: bool


def _label(ref: ModelRef) -> str:
    return f"{ref.provider}/{ref.spec.id}"


def _resolve(catalog: Catalog, name: str, where: str) -> ModelRef:
    try:
        return catalog.lookup(None, name)
    except (UnknownModelError, UnknownProviderError) as exc:
        raise WorkloadError(f"{where}: {exc}") from None


def _compared(
    ctx_catalog: Catalog, loaded: WorkloadFile, models: Sequence[str] | None, origin: str
) -> list[ModelRef]:
    if models:
        named = [(name, origin) for name in models]
    elif loaded.workload.models:
        named = [(n, loaded.where(["models", i])) for i, n in enumerate(loaded.workload.models)]
    else:
        named = [(name, "default models") for name in DEFAULT_MODELS]
    refs: dict[int, ModelRef] = {}
    for name, where in named:
        ref = _resolve(ctx_catalog, name, where)
        refs.setdefault(id(ref.spec), ref)
    return list(refs.values())


def _fixed_models(catalog: Catalog, loaded: WorkloadFile) -> dict[str, ModelRef]:
    """Models named by sections (background calls, media, embeddings)."""
    w = loaded.workload
    named: dict[str, tuple[str | None, list[str | int]]] = {
        f"background.{i}": (b.model, ["background", i, "model"]) for i, b in enumerate(w.background)
    }
    for section in ("images_out", "audio", "embeddings"):
        spec = getattr(w, section)
        named[section] = (spec.model if spec else None, [section, "model"])
    return {
        key: _resolve(catalog, name, loaded.where(path))
        for key, (name, path) in named.items()
        if name is not None
    }


def _languages(loaded: WorkloadFile) -> list[tuple[str, Decimal]]:
    mix = loaded.workload.languages
    if not mix:
        return [("en", Decimal(1))]
    known = corpus_languages()
    for code in mix:
        if code not in known:
            raise WorkloadError(
                f"{loaded.where(['languages', code])}: no measurements for language {code!r}; "
                f"known: {', '.join(known)}"
            )
    return [(code, share) for code, share in mix.items() if share]


def _counted_with(catalog: Catalog, loaded: WorkloadFile, conversions: Conversions) -> str | None:
    name = loaded.workload.counted_with
    if name is None:
        return None
    where = loaded.where(["counted_with"])
    ref = _resolve(catalog, name, where)
    try:
        return conversions.tokenizer_name(ref.provider, ref.spec.id)
    except TokenizerUnavailableError as exc:
        raise WorkloadError(f"{where}: {exc}") from None


def _source_of(background: bool) -> Callable[[str], str]:
    main = {**_MAIN_SOURCES, "images": "media", "output": "output", "reasoning": "reasoning"}
    return (lambda _: "background") if background else (lambda part: main.get(part, part))


def _bill(
    tally: Tally,
    shape: Shape,
    card: RateCard,
    cache: CacheSpec | None,
    weight: Decimal,
    source: Callable[[str], str],
) -> Decimal:
    """Add one call shape at ``card``'s rates, times ``weight``; the net cache
    saving against no caching (same weight) is returned."""
    prefix = set(cache.prefix) if cache is not None and card.prices_cache_reads() else set()
    saving = Decimal(0)
    for part, tokens in shape.parts.items():
        plain = tokens * card.rate("input") if tokens else Decimal(0)
        if part not in prefix or cache is None or not tokens:
            tally.add(source(part), "input", weight * plain)
            continue
        read = tokens * cache.hit_rate * card.rate("cache_read")
        miss = tokens * (1 - cache.hit_rate)
        if card.prices_cache_writes():
            write = miss * card.rate("cache_write_1h" if cache.ttl == "1h" else "cache_write")
            tally.add(source(part), "cache_write", weight * write)
        else:  # no write premium: a miss is plain input
            write = miss * card.rate("input")
            tally.add(source(part), "input", weight * write)
        tally.add(source(part), "cache_read", weight * read)
        saving += weight * (plain - read - write)
    if shape.images:
        tally.add(source("images"), "images", weight * shape.images * card.rate("input_image"))
    if shape.output:  # with reasoning: the thinking rate, where the price has one
        rate = card.rate("output_thinking" if shape.reasoning else "output")
        tally.add(source("output"), "output", weight * shape.output * rate)
    if shape.reasoning:
        amount = shape.reasoning * card.rate("reasoning")
        tally.add(source("reasoning"), "reasoning", weight * amount)
    tally.add(source("fees"), "fees", weight * card.rate("request"))
    return saving


def _break_even(card: RateCard, ttl: str) -> Decimal | None:
    """The hit rate at which caching costs the same as no caching (0: it never
    costs more; None: it never pays)."""
    plain, read = card.rate("input"), card.rate("cache_read")
    write = plain
    if card.prices_cache_writes():
        write = card.rate("cache_write_1h" if ttl == "1h" else "cache_write")
    if write <= plain:
        return Decimal(0)
    if write - read <= write - plain:
        return None
    return divide(write - plain, write - read).quantize(_BREAK_EVEN_PLACES, ROUND_HALF_EVEN)


def _tokens(shape: Shape, share: Decimal, cache: CacheSpec | None) -> dict[str, Decimal]:
    prefix = set(cache.prefix) if cache else set()
    cached = sum((v for k, v in shape.parts.items() if k in prefix), Decimal(0))
    prompt = sum(shape.parts.values(), shape.images)
    return {
        "input": share * prompt,
        "cacheable_prefix": share * cached,
        "output": share * shape.output,
        "reasoning": share * shape.reasoning,
    }


def _run_call(
    ctx: _Context, job: _Job, requests: Decimal
) -> tuple[CallLine, CacheLine | None, Tally]:
    price = ctx.price(job.ref)
    shaper = ctx.shaper(job.ref)
    tally, saving = Tally(), Decimal(0)
    tokens = dict.fromkeys(("input", "cacheable_prefix", "output", "reasoning"), Decimal(0))
    first: RateCard | None = None
    for language, share in ctx.languages:
        shape = shaper.shape(job.spec, language)
        for key, value in _tokens(shape, share, job.spec.cache).items():
            tokens[key] += value
        for tier, tier_share in job.tiers.weights():
            card = ctx.card(price, tier, shape.prompt_tokens, shape.output + shape.reasoning)
            first = first or card
            weight = share * tier_share
            saving += _bill(tally, shape, card, job.spec.cache, weight, _source_of(job.background))
    line = CallLine(
        job.name, _label(job.ref), price.entry_id, job.weight, tally.total * job.weight, tokens
    )
    weighted = Tally()
    weighted.merge(tally, job.weight)
    cache = job.spec.cache
    if cache is None or first is None:
        return line, None, weighted
    priced = first.prices_cache_reads()
    per_request = saving * job.weight
    cache_line = CacheLine(
        call=job.name,
        hit_rate=cache.hit_rate,
        ttl=cache.ttl,
        priced=priced,
        saving_per_request=per_request,
        saving_per_month=per_request * requests,
        break_even_hit_rate=_break_even(first, cache.ttl) if priced else None,
    )
    return line, cache_line, weighted


def _is_empty(spec: CallSpec) -> bool:
    parts = [getattr(spec, name) for name in PARTS]
    return all(p is None for p in parts) and spec.output is None and not spec.images_in


def _jobs(ctx: _Context, ref: ModelRef) -> list[_Job]:
    w = ctx.workload
    jobs = [_Job("request", w.request, ref, Decimal(1), w.tiers, False)]
    for index, bg in enumerate(w.background):
        bg_ref = ctx.model_for(f"background.{index}", ref)
        jobs.append(_Job(bg.name, bg, bg_ref, bg.per_request, bg.tiers or w.tiers, True))
    return [job for job in jobs if not _is_empty(job.spec) and job.weight]


def _media(ctx: _Context, ref: ModelRef, tally: Tally) -> None:
    w = ctx.workload
    if w.images_out is not None and w.images_out.count:
        spec = w.images_out
        price = ctx.price(ctx.model_for("images_out", ref))
        one = cost(Usage(images=(ImageUnits(1, spec.size, spec.quality),)), price).images
        tally.add("media", "images", one * spec.count * ctx.fx(price.currency))
    if w.audio is not None and w.audio.minutes:
        price = ctx.price(ctx.model_for("audio", ref))
        audio = cost(Usage(audio_seconds=w.audio.minutes * 60), price).audio
        tally.add("media", "audio", audio * ctx.fx(price.currency))


def _embeddings(ctx: _Context, ref: ModelRef, per_request: Tally, monthly: Tally) -> Decimal:
    """Queries per request and corpus runs per month; the one-off first embedding."""
    spec = ctx.workload.embeddings
    if spec is None:
        return Decimal(0)
    price = ctx.price(ctx.model_for("embeddings", ref))
    if spec.query_tokens:
        rate = ctx.card(price, "standard", spec.query_tokens).rate("input")
        per_request.add("embeddings", "embeddings", spec.query_tokens * rate)
    if not spec.tokens_each:
        return Decimal(0)
    rate = ctx.card(price, spec.tier, spec.tokens_each).rate("input")
    runs = spec.reembed_per_month * spec.documents + spec.new_documents_per_month
    monthly.add("embeddings", "embeddings", runs * spec.tokens_each * rate)
    return spec.documents * spec.tokens_each * rate


def _storage(ctx: _Context, monthly: Tally) -> None:
    spec = ctx.workload.vector_storage
    if spec is None:
        return
    embeddings = ctx.workload.embeddings
    vectors = spec.vectors
    if vectors is None:
        vectors = embeddings.documents if embeddings else 0
    stored = Decimal(vectors * spec.dimensions * spec.bytes_per_dimension).scaleb(-_GB)
    monthly.add("storage", "storage", stored * spec.usd_per_gb_month * ctx.fx("USD"))


def _priced(ctx: _Context, ref: ModelRef) -> ModelEstimate:
    requests = ctx.workload.requests.monthly
    per_request, monthly = Tally(), Tally()
    lines: list[CallLine] = []
    caches: list[CacheLine] = []
    notes: list[str] = []
    for job in _jobs(ctx, ref):
        line, cache, tally = _run_call(ctx, job, requests)
        per_request.merge(tally)
        lines.append(line)
        notes += ctx.shaper(job.ref).notes
        if cache is not None:
            caches.append(cache)
            if not cache.priced:
                notes.append(
                    f"{cache.call}: {line.model} prices no prompt caching; "
                    "the prefix is billed as input"
                )
    _media(ctx, ref, per_request)
    one_off = _embeddings(ctx, ref, per_request, monthly)
    _storage(ctx, monthly)
    total = Tally()
    total.merge(per_request, requests)
    total.merge(monthly)
    per_month = total.total
    return ModelEstimate(
        model=_label(ref),
        price_currency=ref.currency,
        per_request=per_request.total,
        per_day=divide(per_month, ctx.workload.requests.days_per_month),
        per_month=per_month,
        one_off=one_off,
        components=total.by(1, COMPONENTS),
        sources=total.by(0, SOURCES),
        calls=tuple(lines),
        caches=tuple(caches),
        notes=tuple(dict.fromkeys(notes)),
    )


def _one(ctx: _Context, ref: ModelRef) -> ModelEstimate:
    try:
        return _priced(ctx, ref)
    except (PricingError, LookupError) as exc:
        return ModelEstimate(_label(ref), price_currency=ref.currency, error=str(exc))


def _currency(
    asked: str | None, compared: list[ModelRef], fixed: dict[str, ModelRef], w: Workload
) -> str:
    """``asked``, else the one currency every price used is in, else USD."""
    if asked is not None:
        return asked
    used = {ref.currency for ref in (*compared, *fixed.values())}
    if w.vector_storage is not None:
        used.add("USD")
    return used.pop() if len(used) == 1 else "USD"


def estimate(
    workload: WorkloadFile | Workload,
    models: Sequence[str] | None = None,
    *,
    catalog: Catalog | None = None,
    registry: TokenizerRegistry | None = None,
    at: dt.datetime | None = None,
    models_origin: str = "--models",
    currency: str | None = None,
    rates: RateTable | None = None,
) -> Estimate:
    """The projected cost of ``workload`` on each model, cheapest first.

    Models: ``models`` (errors name ``models_origin``), else the workload's
    ``models``, else :data:`DEFAULT_MODELS`. Prices: at ``at``, else the
    workload's ``price_date`` (noon UTC), else now. An unknown model or
    language raises :class:`WorkloadError`; a model that cannot be priced for
    this workload gets a row with ``error`` set. Figures: in ``currency``, else
    the prices' one currency, else USD, converted with ``rates`` (default: the
    shipped table with the user's override file over it) at the price date."""
    loaded = workload if isinstance(workload, WorkloadFile) else WorkloadFile(workload)
    w = loaded.workload
    catalog = catalog or open_catalog()
    conversions = Conversions(registry or default_registry())
    if at is None and w.price_date is not None:
        at = dt.datetime.combine(w.price_date, dt.time(12), dt.UTC)
    moment = at or dt.datetime.now(dt.UTC)
    with localcontext() as decimal_ctx:
        decimal_ctx.prec = 60
        languages = _languages(loaded)
        counted_with = _counted_with(catalog, loaded, conversions)
        fixed = _fixed_models(catalog, loaded)
        compared = _compared(catalog, loaded, models, models_origin)
        ctx = _Context(
            loaded=loaded,
            catalog=catalog,
            conversions=conversions,
            moment=moment,
            languages=languages,
            counted_with=counted_with,
            fixed=fixed,
            currency=_currency(currency, compared, fixed, w),
            rates=rates,
        )
        rows = [_one(ctx, ref) for ref in compared]
    name = w.name or (loaded.origin if loaded.origin != "<workload>" else "workload")
    return Estimate.sorted(
        name,
        moment.date(),
        w.requests.monthly,
        w.requests.days_per_month,
        rows,
        (ctx.currency, ctx.fx_lines()),
    )
