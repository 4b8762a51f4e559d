"""The schema of a workload file: what an application sends, per request and per month.

Every section is validated with ``extra="forbid"`` so that a typo is an error,
never a silently ignored setting. Token counts are per call; shares and rates
are fractions between 0 and 1; money is USD as exact decimals. A ``model`` left
out of a section means "the model being compared". See ``examples/*.yaml``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from llmtally.usage import ServiceTier

__all__ = [
    "EFFORT_MULTIPLIERS",
    "AudioSpec",
    "BackgroundSpec",
    "CacheSpec",
    "CallSpec",
    "EmbeddingsSpec",
    "ImageIn",
    "ImagesOut",
    "OutputBucket",
    "OutputSpec",
    "ReasoningSpec",
    "RequestRate",
    "TextPart",
    "TierShares",
    "VectorStorageSpec",
    "Workload",
]

Share = Annotated[Decimal, Field(ge=0, le=1)]
Amount = Annotated[Decimal, Field(ge=0)]
Tokens = Annotated[int, Field(ge=0)]
PrefixPart = Literal["system_prompt", "context"]

# Reasoning tokens per visible output token, by effort. No provider publishes
# these: they are llmtally's stated assumption (override with ``multiplier``).
EFFORT_MULTIPLIERS: dict[str, Decimal] = {
    "minimal": Decimal("0.5"),
    "low": Decimal("1.5"),
    "medium": Decimal("4"),
    "high": Decimal("10"),
}
_SYSTEM_ONLY: list[PrefixPart] = ["system_prompt"]
_PERCENTILE = re.compile(r"^p(100|[1-9]?[0-9])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(values: dict[str, object], names: tuple[str, ...], what: str) -> None:
    given = [name for name in names if values.get(name) is not None]
    if len(given) != 1:
        listed = ", ".join(repr(n) for n in names)
        raise ValueError(f"{what} takes exactly one of {listed} (got {len(given)})")


def _scalar_as(field: str, data: Any) -> Any:
    """``part: 1200`` is short for ``part: {tokens: 1200}``."""
    if isinstance(data, int | float | Decimal) and not isinstance(data, bool):
        return {field: data}
    return data


class TextPart(_Strict):
    """Part of a prompt: a token count, or text (inline or in a file beside the
    workload) counted with each model's own tokenizer. ``localized``: whether
    the language mix inflates it (default: user input and context yes, the
    system prompt no); text is counted as written, never inflated."""

    tokens: Tokens | None = None
    text: str | None = None
    file: str | None = None
    localized: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _scalar_as("tokens", data)

    @model_validator(mode="after")
    def _one_source(self) -> TextPart:
        _exactly_one(self.__dict__, ("tokens", "text", "file"), "a prompt part")
        return self


class OutputBucket(_Strict):
    tokens: Tokens
    share: Share


class OutputSpec(_Strict):
    """Output tokens per call: a mean (``tokens``), ``percentiles`` (``p50: 200``;
    the distribution is taken as linear between them and flat beyond the first
    and last given), or a ``distribution`` of buckets whose shares add up to 1."""

    tokens: Amount | None = None
    percentiles: dict[str, Tokens] | None = None
    distribution: list[OutputBucket] | None = None
    localized: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _scalar_as("tokens", data)

    @model_validator(mode="after")
    def _check(self) -> OutputSpec:
        _exactly_one(self.__dict__, ("tokens", "percentiles", "distribution"), "output")
        if self.percentiles is not None:
            _check_percentiles(self.percentiles)
        if self.distribution is not None:
            total = sum((b.share for b in self.distribution), Decimal(0))
            if total != 1:
                raise ValueError(f"distribution shares add up to {total}, not 1")
        return self

    def mean(self) -> Decimal:
        """The expected output tokens per call (exact)."""
        if self.tokens is not None:
            return self.tokens
        if self.distribution is not None:
            return sum((b.share * b.tokens for b in self.distribution), Decimal(0))
        return _percentile_mean(self.percentiles or {})


def _points(percentiles: dict[str, int]) -> list[tuple[Decimal, int, str]]:
    return sorted((Decimal(key[1:]) / 100, value, key) for key, value in percentiles.items())


def _check_percentiles(percentiles: dict[str, int]) -> None:
    if not percentiles:
        raise ValueError("percentiles: give at least one, e.g. {p50: 200, p90: 800}")
    bad = [key for key in percentiles if not _PERCENTILE.match(key)]
    if bad:
        raise ValueError(f"percentiles: {', '.join(bad)}: keys are p0 to p100 (e.g. p50)")
    points = _points(percentiles)
    for (_, low, below), (_, high, key) in zip(points, points[1:], strict=False):
        if high < low:
            raise ValueError(f"percentiles: {key} ({high}) is below {below} ({low})")


def _percentile_mean(percentiles: dict[str, int]) -> Decimal:
    """The mean of the quantile function through the points: linear between them,
    constant before the first and after the last."""
    points = _points(percentiles)
    first_at, first, _ = points[0]
    last_at, last, _ = points[-1]
    total = first_at * first + (1 - last_at) * last
    for (a, low, _), (b, high, _) in zip(points, points[1:], strict=False):
        total += (b - a) * (low + high) / 2
    return total


class ReasoningSpec(_Strict):
    """Hidden reasoning tokens per call: ``effort`` (a multiplier of the visible
    output, see EFFORT_MULTIPLIERS), an explicit ``multiplier``, or ``tokens``.
    By default only models the catalog marks as reasoning models reason."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    multiplier: Amount | None = None
    tokens: Amount | None = None
    applies_to: Literal["reasoning-models", "all"] = "reasoning-models"

    @model_validator(mode="after")
    def _one_form(self) -> ReasoningSpec:
        _exactly_one(self.__dict__, ("effort", "multiplier", "tokens"), "reasoning")
        return self


class ImageIn(_Strict):
    """Images sent with each call, counted by each model's image-token rule."""

    count: Amount = Decimal(1)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    detail: Literal["auto", "low", "high"] = "auto"


class CacheSpec(_Strict):
    """Prompt caching: the share of calls that find the ``prefix`` cached. A miss
    writes the prefix (at the provider's write price, e.g. 1.25x input for
    Anthropic's 5-minute cache); a hit reads it at the read price."""

    hit_rate: Share
    prefix: list[PrefixPart] = Field(default_factory=lambda: _SYSTEM_ONLY[:], min_length=1)
    ttl: Literal["5m", "1h"] = "5m"


class TierShares(_Strict):
    """Shares of calls sent through each service tier; the rest is standard."""

    batch: Share = Decimal(0)
    flex: Share = Decimal(0)
    priority: Share = Decimal(0)

    @model_validator(mode="after")
    def _at_most_one(self) -> TierShares:
        total = self.batch + self.flex + self.priority
        if total > 1:
            raise ValueError(f"tier shares add up to {total}, above 1")
        return self

    def weights(self) -> list[tuple[ServiceTier, Decimal]]:
        """(tier, share) for every tier with a share, standard first."""
        rest = 1 - self.batch - self.flex - self.priority
        pairs: list[tuple[ServiceTier, Decimal]] = [
            ("standard", rest),
            ("batch", self.batch),
            ("flex", self.flex),
            ("priority", self.priority),
        ]
        return [(name, share) for name, share in pairs if share]


class CallSpec(_Strict):
    """One call's token profile: what it sends and what it gets back."""

    system_prompt: TextPart | None = None
    user_input: TextPart | None = None
    context: TextPart | None = None
    output: OutputSpec | None = None
    reasoning: ReasoningSpec | None = None
    images_in: list[ImageIn] = []
    cache: CacheSpec | None = None

    @model_validator(mode="after")
    def _cache_prefix_exists(self) -> CallSpec:
        if self.cache is not None:
            missing = [p for p in self.cache.prefix if getattr(self, p) is None]
            if missing:
                raise ValueError(f"cache.prefix names {', '.join(missing)}, which this call lacks")
        return self


class BackgroundSpec(CallSpec):
    """A call made in the background for each request (agent step, summary,
    title): ``per_request`` of them per request (0.1 = one in ten requests)."""

    name: str = Field(min_length=1)
    per_request: Amount
    model: str | None = None
    tiers: TierShares | None = None


class RequestRate(_Strict):
    per_day: Amount | None = None
    per_month: Amount | None = None
    days_per_month: Decimal = Field(default=Decimal(30), gt=0, le=31)

    @model_validator(mode="after")
    def _one_rate(self) -> RequestRate:
        _exactly_one(self.__dict__, ("per_day", "per_month"), "requests")
        return self

    @property
    def monthly(self) -> Decimal:
        if self.per_month is not None:
            return self.per_month
        return (self.per_day or Decimal(0)) * self.days_per_month


class ImagesOut(_Strict):
    """Images generated per request."""

    count: Amount
    size: str = Field(min_length=1)
    quality: str = "standard"
    model: str | None = None


class AudioSpec(_Strict):
    """Audio priced by duration (transcription, speech): minutes per request."""

    minutes: Amount
    model: str | None = None


class EmbeddingsSpec(_Strict):
    """A corpus embedded once (``one_off``), re-embedded ``reembed_per_month``
    times a month, growing by ``new_documents_per_month``; plus ``query_tokens``
    embedded with every request. ``tier`` applies to the corpus runs."""

    documents: Tokens
    tokens_each: Tokens
    reembed_per_month: Amount = Decimal(0)
    new_documents_per_month: Amount = Decimal(0)
    query_tokens: Tokens = 0
    model: str | None = None
    tier: Literal["standard", "batch"] = "standard"


class VectorStorageSpec(_Strict):
    """Vectors kept in a store at a price per GB-month you supply (1 GB = 1e9 bytes)."""

    dimensions: int = Field(gt=0)
    vectors: Tokens | None = None
    bytes_per_dimension: int = Field(default=4, gt=0)
    usd_per_gb_month: Amount


class Workload(_Strict):
    """A workload file."""

    name: str | None = None
    description: str | None = None
    price_date: dt.date | None = None
    models: list[str] = []
    counted_with: str | None = None
    requests: RequestRate
    request: CallSpec = CallSpec()
    background: list[BackgroundSpec] = []
    tiers: TierShares = TierShares()
    languages: dict[str, Share] | None = None
    images_out: ImagesOut | None = None
    audio: AudioSpec | None = None
    embeddings: EmbeddingsSpec | None = None
    vector_storage: VectorStorageSpec | None = None

    @field_validator("languages")
    @classmethod
    def _shares(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is not None:
            total = sum(value.values(), Decimal(0))
            if total != 1:
                raise ValueError(f"language shares add up to {total}, not 1")
        return value

    @field_validator("background")
    @classmethod
    def _names(cls, value: list[BackgroundSpec]) -> list[BackgroundSpec]:
        names = [b.name for b in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names used twice: {', '.join(twice)}")
        return value

    @field_validator("vector_storage")
    @classmethod
    def _vectors(
        cls, value: VectorStorageSpec | None, info: ValidationInfo
    ) -> VectorStorageSpec | None:
        if value is not None and value.vectors is None and not info.data.get("embeddings"):
            raise ValueError("give 'vectors', or an embeddings section whose documents count")
        return value
