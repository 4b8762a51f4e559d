"""The schema of a price file: one provider, its models, each model's dated prices.

Every model is validated with ``extra="forbid"`` so that a typo'd field is an
error, never a silently missing price. Token prices are per 1M tokens, in the
file's ``currency`` (USD unless named).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "RATE_FIELDS",
    "AudioSpec",
    "ImagePriceSpec",
    "LongContextSpec",
    "MatchSpec",
    "ModelKind",
    "ModelSpec",
    "PriceSpec",
    "ProviderFile",
    "RatesSpec",
    "SelfHostedSpec",
    "TierSpec",
    "WindowSpec",
]

ModelKind = Literal[
    "chat",
    "reasoning",
    "completion",
    "embedding",
    "image",
    "audio",
    "transcription",
    "tts",
    "realtime",
    "moderation",
    "rerank",
]

NonNegative = Field(default=None, ge=0)

RATE_FIELDS: tuple[str, ...] = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "output_thinking",
    "input_audio",
    "output_audio",
    "input_image",
    "output_image",
    "request",
    "characters",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RatesSpec(_Strict):
    """Unit prices. Tokens and characters: per 1M; ``request``: per request (in the
    file's currency).

    ``output_thinking``: the price of EVERY output token (answer and reasoning) of a
    request whose usage reports reasoning tokens (Qwen and Doubao bill a thinking-mode
    request's whole output at their thinking price); it wins over ``output`` and
    ``reasoning`` for such a request, and is not used for one without reasoning."""

    input: Decimal | None = NonNegative
    output: Decimal | None = NonNegative
    cache_read: Decimal | None = NonNegative
    cache_write: Decimal | None = NonNegative
    cache_write_1h: Decimal | None = NonNegative
    reasoning: Decimal | None = NonNegative
    output_thinking: Decimal | None = NonNegative
    input_audio: Decimal | None = NonNegative
    output_audio: Decimal | None = NonNegative
    input_image: Decimal | None = NonNegative
    output_image: Decimal | None = NonNegative
    request: Decimal | None = NonNegative
    characters: Decimal | None = NonNegative


def _check_one_form(spec: RatesSpec, discount: Decimal | None, what: str) -> None:
    has_rates = any(getattr(spec, name) is not None for name in RATE_FIELDS)
    if discount is not None and has_rates:
        raise ValueError(f"{what} takes either 'discount' or its own rates, not both")
    if discount is None and not has_rates:
        raise ValueError(f"{what} needs 'discount' or at least one rate")


class LongContextSpec(RatesSpec):
    """A cliff: a prompt of more than ``above`` tokens (cache included) re-prices
    the whole request at these rates (rates it leaves out stay as they were).

    ``output_above``: the cliff applies only when the request's output (reasoning
    included) is also more than that many tokens, as Doubao's "输入长度 [0, 32] 且
    输出长度 (0.2, +∞)"; such a cliff may be ``above: 0`` (any prompt)."""

    above: int = Field(ge=0)
    output_above: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _a_zero_cliff_needs_an_output_bound(self) -> LongContextSpec:
        if self.above == 0 and self.output_above is None:
            raise ValueError("a cliff 'above: 0' needs 'output_above' (else it is the base price)")
        return self


def _check_distinct_cliffs(cliffs: list[LongContextSpec]) -> None:
    aboves = [c.above for c in cliffs]
    if len(aboves) != len(set(aboves)):
        raise ValueError("the cliffs of one long_context list need distinct 'above' values")


class TierSpec(RatesSpec):
    """A service tier (batch, flex, priority): either its own published rates,
    or ``discount``, a factor applied to every price of the standard tier."""

    discount: Decimal | None = Field(default=None, gt=0)
    long_context: list[LongContextSpec] = []

    @model_validator(mode="after")
    def _one_form(self) -> TierSpec:
        _check_one_form(self, self.discount, "a tier")
        _check_distinct_cliffs(self.long_context)
        return self


class WindowSpec(RatesSpec):
    """A time-of-day window in UTC (``end`` may be past midnight) with its own
    rates or a ``discount`` factor."""

    start: dt.time
    end: dt.time
    discount: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> WindowSpec:
        _check_one_form(self, self.discount, "a window")
        return self


class ImagePriceSpec(_Strict):
    size: str
    quality: str = "standard"
    price: Decimal = Field(ge=0)


class AudioSpec(_Strict):
    """Audio priced by duration, with the provider's rounding and minimum."""

    price: Decimal = Field(ge=0)
    per: Literal["second", "minute", "hour"]
    increment_seconds: int = Field(default=1, gt=0)
    rounding: Literal["up", "nearest"] = "up"
    minimum_seconds: Decimal = Field(default=Decimal(0), ge=0)


class SelfHostedSpec(_Strict):
    """A model on your own instance: $/hour spread over measured throughput."""

    instance: str
    usd_per_hour: Decimal = Field(gt=0)
    input_tokens_per_second: Decimal = Field(gt=0)
    output_tokens_per_second: Decimal = Field(gt=0)


class PriceSpec(RatesSpec):
    """The prices of one model from ``effective`` until the next entry.

    ``effective`` may be left out on the first entry only, meaning "since the
    model was released" where the release date was not recorded.
    """

    effective: dt.date | None = None
    source: str = Field(min_length=1)
    checked: dt.date | None = None
    note: str | None = None
    long_context: list[LongContextSpec] = []
    batch: TierSpec | None = None
    flex: TierSpec | None = None
    priority: TierSpec | None = None
    windows: list[WindowSpec] = []
    images: list[ImagePriceSpec] = []
    audio: AudioSpec | None = None
    self_hosted: SelfHostedSpec | None = None

    @model_validator(mode="after")
    def _distinct_cliffs(self) -> PriceSpec:
        _check_distinct_cliffs(self.long_context)
        return self


class MatchSpec(_Strict):
    """Extra name rules beyond the id and aliases."""

    prefix: list[str] = []
    regex: list[str] = []


class ModelSpec(_Strict):
    id: str = Field(min_length=1)
    name: str | None = None
    kind: ModelKind = "chat"
    aliases: list[str] = []
    match: MatchSpec | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    deprecated: dt.date | None = None
    prices: list[PriceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ModelSpec:
        dates = [p.effective for p in self.prices]
        if any(d is None for d in dates[1:]):
            raise ValueError("only the first price may leave out 'effective'")
        known = [d for d in dates if d is not None]
        if known != sorted(set(known)) or len(known) != len(set(known)):
            raise ValueError("prices must be in order of 'effective', one entry per date")
        return self


class ProviderFile(_Strict):
    """One provider's price file. ``currency``: the ISO 4217 code every price in
    the file is billed in (USD unless named); the meter's amounts are in it."""

    provider: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str
    pricing_url: str
    currency: str = "USD"
    note: str | None = None
    aliases: list[str] = []
    models: list[ModelSpec] = []

    @model_validator(mode="after")
    def _known_currency(self) -> ProviderFile:
        # Imported here: llmtally.currency's package imports its display module,
        # which imports the meter, which imports this module (an import cycle).
        from llmtally.currency.codes import CURRENCIES

        if self.currency not in CURRENCIES:
            known = ", ".join(sorted(CURRENCIES))
            raise ValueError(f"currency: {self.currency!r} is not one of {known}")
        return self

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value: object) -> object:
        """``cny`` and ``RMB`` are CNY (llmtally.currency.codes.NAMES)."""
        from llmtally.currency.codes import NAMES

        if not isinstance(value, str):
            return value
        code = value.strip().upper()
        return NAMES.get(code, code)
