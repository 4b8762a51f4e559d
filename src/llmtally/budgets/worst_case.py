"""The most a request can cost, known before it is sent.

Input: the prompt counted offline with the model's tokenizer (when the model
has none, the request's UTF-8 size in bytes, which no tokenizer exceeds: a
token is at least one byte). Output: the request's own cap (``max_tokens``,
``max_completion_tokens``, ``max_output_tokens``, Gemini's
``generationConfig.maxOutputTokens``) times ``n`` choices, else the model's
maximum output in the catalog, else its context window. Priced at the price
in force, with no cache discount, at the tier the request asks for, and each
side at its dearest reading where the price bills one above the plain rate:
every prompt token a cache write (at the 1-hour rate where there is one) when
the request marks anything for caching (``cache_control``, Bedrock's
``cachePoint``: the explicit caches that bill writes), and every output token
reasoning (at a thinking or reasoning rate: Qwen's and Doubao's thinking modes
bill the whole answer at the thinking rate, and a model may think by default)
unless the request turns thinking off (``enable_thinking: false``,
``thinking: {"type": "disabled"}``). Images
are priced from the request, a transcription from its WAV upload's length.
An upstream priced by the hour costs at most its timeout. A price in another
currency (a CNY price file) is converted to USD, the budgets' currency, at the
rate of the call's UTC day (``llmtally.currency.pivot``: the day and the rate
the ledger and the settlement convert the call at), rounded up to the ledger's
10 places, so the reservation is never below what the call is then counted
at. What cannot be bounded (no price in the catalog, or no rate for the day)
has no dollar figure: a dollar budget refuses it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from llmtally.currency.pivot import PIVOT, to_usd, usd_rate, utc_day
from llmtally.ledger.schema import SCALE
from llmtally.meter import cost
from llmtally.usage import SERVICE_TIERS, Usage

if TYPE_CHECKING:
    from llmtally.catalog import Catalog
    from llmtally.catalog.price import Price
    from llmtally.providers.wires import Wire
    from llmtally.tokens.base import Tokenizer

__all__ = ["FALLBACK_MAX_OUTPUT", "WorstCase", "worst_case"]

# Where neither the request nor the catalog caps the output: a bound, stated.
FALLBACK_MAX_OUTPUT = 128_000
_SECONDS_PER_HOUR = Decimal(3600)
_PLACES = Decimal(1).scaleb(-SCALE)  # the ledger's 10 places
_ADD_PRICE = "add the model's price"


@dataclass(frozen=True, slots=True)
class WorstCase:
    usd: Decimal | None  # None: no price to bound it with
    tokens: int  # input + output tokens at most
    why: str  # how it was bounded, for a refusal's message
    fix: str = _ADD_PRICE  # what would give an unbounded call a dollar figure


@dataclass(frozen=True, slots=True)
class Call:
    """What the bound needs to know of one request."""

    wire: Wire
    provider: str
    model: str
    request: Mapping[str, Any]
    raw_size: int  # the body's size in bytes
    usd_per_hour: Decimal | None = None
    timeout_s: float = 600.0
    started_at: dt.datetime | None = None  # the call's own time (its rate's day); else now


def worst_case(call: Call, catalog: Catalog, now: dt.datetime) -> WorstCase:
    if call.usd_per_hour is not None:
        hours = Decimal(f"{call.timeout_s:.3f}") / _SECONDS_PER_HOUR
        usd = call.usd_per_hour * hours
        tokens = _input_tokens(call) + _output_cap(call, catalog)[0]
        return WorstCase(usd, tokens, f"{call.timeout_s:g} s of an upstream priced by the hour")
    usage, why = _usage(call, catalog)
    tokens = usage.input_tokens + usage.output_tokens
    try:
        price = catalog.price_at(call.provider, call.model, now)
        total = _dearest(usage, price, call.request)
    except (LookupError, ValueError) as exc:
        return WorstCase(None, tokens, f"no price to bound it with: {exc}")
    if price.currency != PIVOT:
        return _in_usd(total, price.currency, call.started_at or now, tokens, why)
    return WorstCase(total, tokens, why)


def _dearest(usage: Usage, price: Price, request: Mapping[str, Any]) -> Decimal:
    """``usage``'s cost at ``price`` with each side at its dearest reading the
    request allows: the prompt as plain input or as cache writes, the output as
    an answer or as reasoning, whichever costs more (the plain reading alone
    where the price has no cache-write, reasoning or thinking rate)."""
    plain = cost(usage, price)
    cache_apart, thinking_apart = _bills_apart(price)
    writes = usage.input_tokens if cache_apart and _asks_cache(request) else 0
    reasoning = usage.output_tokens if thinking_apart and not _thinking_off(request) else 0
    if not writes and not reasoning:
        return plain.total
    dear = cost(
        replace(
            usage,
            cache_write_tokens=writes,
            cache_write_1h_tokens=writes,
            reasoning_tokens=reasoning,
        ),
        price,
    )
    prompt = max(plain.input + plain.cache_write, dear.input + dear.cache_write)
    output = max(plain.output + plain.reasoning, dear.output + dear.reasoning)
    return prompt + output + plain.cache_read + plain.audio + plain.images + plain.request


def _thinking_off(request: Mapping[str, Any]) -> bool:
    """Whether the request turns a model's thinking off (DashScope's
    ``enable_thinking``; Ark's, Zhipu's and Anthropic's ``thinking.type``)."""
    thinking = request.get("thinking")
    off = isinstance(thinking, Mapping) and thinking.get("type") == "disabled"
    return off or request.get("enable_thinking") is False


_CACHE_MARKS = ("cache_control", "cachePoint")


def _asks_cache(value: object) -> bool:
    """Whether a ``cache_control`` or ``cachePoint`` key appears anywhere in the
    request (its depth is bounded when it is read: gateway.http_parts)."""
    if isinstance(value, Mapping):
        if any(mark in value for mark in _CACHE_MARKS):
            return True
        return any(_asks_cache(v) for v in value.values() if isinstance(v, Mapping | list))
    if isinstance(value, list):
        return any(_asks_cache(v) for v in value if isinstance(v, Mapping | list))
    return False


_MEMO_KEY = "worst_case.bills_apart"


def _bills_apart(price: Price) -> tuple[bool, bool]:
    """Whether any of ``price``'s rates (base, cliffs, tiers) bills cache writes
    apart, and reasoning or thinking apart; kept in the price's memo."""
    known = price.memo.get(_MEMO_KEY)
    if not isinstance(known, tuple):
        rates = [price.rates, *(cliff.rates for cliff in price.long_context)]
        for tier in price.tiers.values():
            rates += [cliff.rates for cliff in tier.long_context]
            rates += [] if tier.rates is None else [tier.rates]
        cache = any(r.cache_write is not None or r.cache_write_1h is not None for r in rates)
        thinking = any(r.reasoning is not None or r.output_thinking is not None for r in rates)
        known = (cache, thinking)
        price.memo[_MEMO_KEY] = known
    return bool(known[0]), bool(known[1])


def _in_usd(amount: Decimal, billed: str, at: dt.datetime, tokens: int, why: str) -> WorstCase:
    """A bound priced in ``billed``, in USD at the rate of ``at``'s UTC day,
    rounded up to the ledger's places; no rate: no dollar figure."""
    day = utc_day(at)
    try:
        rate = usd_rate(billed, day)
    except (LookupError, ValueError) as exc:  # no rate that day; a bad rates file
        return WorstCase(
            None,
            tokens,
            f"priced at {amount.normalize():f} {billed} at most, not convertible to USD: {exc}",
            f"add a {billed}->USD rate for {day} to your rates file (docs/currencies.md)",
        )
    usd = to_usd(amount, rate).quantize(_PLACES, ROUND_CEILING)
    at_rate = f"1 {billed} = {rate.rate:.6g} USD ({rate.rate_date})"
    return WorstCase(usd, tokens, f"{why}; {amount.normalize():f} {billed} at {at_rate}")


def _usage(call: Call, catalog: Catalog) -> tuple[Usage, str]:
    if call.wire.prompt_of is None:
        media = call.wire.usage(call.provider, call.request, None)
        if media is not None:
            return media, "priced from the request"
        tokens = _input_tokens(call)
        return Usage(input_tokens=tokens), f"{tokens:,} input tokens at most"
    prompt = _input_tokens(call)
    output, source = _output_cap(call, catalog)
    tier = call.request.get("service_tier")
    usage = Usage(
        input_tokens=prompt,
        output_tokens=output,
        service_tier=tier if tier in SERVICE_TIERS and tier != "batch" else "standard",
    )
    return usage, f"{prompt:,} prompt tokens + {output:,} output tokens at most: {source}"


# An approximate tokenizer's count (another vocabulary standing in: tokens/loaders/approx.py)
# may be below the provider's: Claude 4.7 and later use about 30% more tokens than the
# earlier Claude tokenizer (Anthropic's pricing page), and claude_approx counts with
# Claude 2.1's. Such a count is doubled, never above the body's size in bytes (no token is
# shorter than a byte), which bounds it whatever the vocabulary.
APPROXIMATE_MARGIN = 2


def _input_tokens(call: Call) -> int:
    """The prompt's tokens; the body's size where the model has no tokenizer; an
    approximate count times APPROXIMATE_MARGIN, at most the body's size."""
    from llmtally.tokens.registry import default_registry

    try:
        _, tokenizer = default_registry().for_model(call.model, call.provider)
    except LookupError:
        return call.raw_size
    try:
        counted = _counted(call, tokenizer)
    except (LookupError, ValueError, TypeError):  # TypeError: a tokenizer refusing odd text
        return call.raw_size
    return counted if tokenizer.exact else min(counted * APPROXIMATE_MARGIN, call.raw_size)


def _counted(call: Call, tokenizer: Tokenizer) -> int:
    if call.wire.prompt_of is not None:
        counted = call.wire.count_prompt(call.request, tokenizer, call.model)
        if counted is not None:
            return counted.total
    text = call.request.get("input", call.request.get("prompt", ""))
    return tokenizer.count(text if isinstance(text, str) else json.dumps(text))


def _output_cap(call: Call, catalog: Catalog) -> tuple[int, str]:
    """The output tokens the request may produce, and where the cap comes from."""
    asked = _asked_cap(call.request)
    choices = call.request.get("n")
    times = choices if isinstance(choices, int) and not isinstance(choices, bool) else 1
    model_cap = _model_cap(call, catalog)
    if asked is not None:
        cap = min(asked, model_cap) if model_cap is not None else asked
        return cap * max(times, 1), "the request's cap"
    if model_cap is not None:
        return model_cap * max(
            times, 1
        ), "the model's maximum output; set max_tokens to reserve less"
    return FALLBACK_MAX_OUTPUT * max(times, 1), "no cap known; set max_tokens to reserve less"


def _asked_cap(request: Mapping[str, Any]) -> int | None:
    config = request.get("generationConfig")
    candidates = [
        request.get("max_completion_tokens"),
        request.get("max_tokens"),
        request.get("max_output_tokens"),
        config.get("maxOutputTokens") if isinstance(config, Mapping) else None,
    ]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _model_cap(call: Call, catalog: Catalog) -> int | None:
    try:
        spec = catalog.lookup(call.provider, call.model).spec
    except LookupError:
        return None
    return spec.max_output_tokens or spec.context_window
