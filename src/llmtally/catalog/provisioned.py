"""Provisioned capacity: throughput rented by the hour (Azure PTUs, Bedrock model units).

Capacity is priced by time, like a self-hosted instance: you pay for every hour
of the units you hold, used or not, and a call through it costs its share of
the hour::

    hourly cost       = units x USD per unit-hour (at the term)
    call load         = input tokens + output tokens x output weight
    capacity per hour = units x tokens per minute per unit x 60 x utilisation
    cost of a call    = hourly cost x call load / capacity per hour
    monthly cost      = hourly cost x hours a month            (selfhost.economics)

Two shapes beside that one. A term priced per unit-month (Azure's reservations,
``usd_per_unit_month``) costs units x USD per unit-month whatever the hours, and a
call its share of the month: monthly cost x load / (capacity per hour x hours).
An offer that sells output capacity apart from input capacity (Bedrock's
Reserved tier, ``output_capacity``: USD per hour per 1K input TPM and per 1K
output TPM) has two hours to share; a call pays its input tokens' share of the
input side's hour and its output tokens' share of the output side's::

    cost of a call = input hourly x input tokens / input capacity per hour
                   + output hourly x output tokens / output capacity per hour

``output weight`` is how many input tokens of capacity one output token uses
(Azure: 4 for gpt-4.1). Offers come from the shipped, sourced file
``catalog/data/provisioned/offers.yaml`` and from a user's offers file of the
same form (its offers replace shipped ones of the same id); a price or a
throughput the vendor does not publish is given by the caller, or the offer
cannot be used: a clear error, never a guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.estimate.result import divide
from llmtally.selfhost.economics import DEFAULT_HOURS_PER_MONTH, monthly_cost

__all__ = [
    "OFFERS_FILE",
    "TERMS",
    "Capacity",
    "OfferSpec",
    "OutputCapacity",
    "OutputSide",
    "ProvisionedError",
    "ProvisionedFile",
    "Term",
    "Throughput",
    "capacity",
    "fewest_units",
    "load_offers",
]

OFFERS_FILE = Path(__file__).parent / "data" / "provisioned" / "offers.yaml"
Term = Literal["hourly", "monthly", "yearly", "1-week", "1-month", "3-month", "6-month", "1-year"]
TERMS: tuple[str, ...] = (
    "hourly",
    "monthly",
    "yearly",
    "1-week",
    "1-month",
    "3-month",
    "6-month",
    "1-year",
)
MAX_OFFERS_BYTES = 1_000_000
MAX_UNITS = 1_000_000
_MINUTES_PER_HOUR = Decimal(60)


class ProvisionedError(ValueError):
    """An offer that cannot be used as asked, with what to give instead."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Throughput(_Strict):
    """Published throughput of one unit: input tokens a minute, and how many
    input tokens of that capacity one output token uses (None: not published)."""

    input_tokens_per_minute: Decimal = Field(gt=0)
    output_weight: Decimal | None = Field(default=None, gt=0)


def _priced_terms(field: str, prices: dict[Term, Decimal], terms: list[Term]) -> None:
    extra = [t for t in prices if t not in terms]
    if extra:
        raise ValueError(f"{field} names terms not in 'terms': {', '.join(extra)}")
    if any(price <= 0 for price in prices.values()):
        raise ValueError(f"{field}: every price must be greater than 0")


class OutputCapacity(_Strict):
    """Output throughput sold apart from the input side: its unit, the output
    tokens a minute one unit serves, how it is bought and its USD per unit-hour."""

    unit: str = Field(min_length=1)
    tokens_per_minute: Decimal = Field(gt=0)
    minimum_units: int = Field(default=1, gt=0)
    increment: int = Field(default=1, gt=0)
    usd_per_unit_hour: dict[Term, Decimal] = Field(min_length=1)


class OfferSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._/-]*$", max_length=200)
    provider: str = Field(min_length=1)
    deployment: str = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    unit: str = Field(min_length=1)
    minimum_units: int = Field(default=1, gt=0)
    increment: int = Field(default=1, gt=0)
    terms: list[Term] = Field(min_length=1)
    usd_per_unit_hour: dict[Term, Decimal] = {}
    usd_per_unit_month: dict[Term, Decimal] = {}
    throughput: Throughput | None = None
    output_capacity: OutputCapacity | None = None
    source: str = Field(min_length=1)
    checked: dt.date | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _priced_terms_are_offered(self) -> OfferSpec:
        _priced_terms("usd_per_unit_hour", self.usd_per_unit_hour, self.terms)
        _priced_terms("usd_per_unit_month", self.usd_per_unit_month, self.terms)
        both = [t for t in self.usd_per_unit_hour if t in self.usd_per_unit_month]
        if both:
            raise ValueError(f"a term is priced per hour or per month, not both: {', '.join(both)}")
        side = self.output_capacity
        if side is not None:
            _priced_terms("output_capacity.usd_per_unit_hour", side.usd_per_unit_hour, self.terms)
            if self.usd_per_unit_month:
                raise ValueError("an offer with output_capacity is priced per unit-hour only")
            if self.throughput is not None and self.throughput.output_weight is not None:
                raise ValueError("output_capacity serves the output tokens: no output_weight")
        return self


class ProvisionedFile(_Strict):
    offers: list[OfferSpec] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> ProvisionedFile:
        ids = [o.id for o in self.offers]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"offer ids must be unique: {', '.join(twice)}")
        return self


def _read(path: Path) -> ProvisionedFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_OFFERS_BYTES:
        raise CatalogFileError(f"{path}: larger than {MAX_OFFERS_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    data = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise CatalogFileError(f"{path}:1: an offers file is a mapping with 'offers'")
    return validate(ProvisionedFile, data, text, str(path))


def load_offers(extra: Path | None = None, shipped: Path = OFFERS_FILE) -> dict[str, OfferSpec]:
    """Every offer by id: the shipped file's, then ``extra``'s (which win)."""
    offers = {o.id: o for o in _read(shipped).offers}
    if extra is not None:
        offers.update({o.id: o for o in _read(extra).offers})
    return offers


def fewest_units(needed: Decimal, minimum: int, increment: int) -> int:
    """The fewest units sold (``minimum`` and up in steps of ``increment``) that
    reach ``needed``."""
    if needed <= minimum:
        return minimum
    steps = ((needed - minimum) / increment).to_integral_value(ROUND_CEILING)
    return minimum + int(steps) * increment


@dataclass(frozen=True, slots=True)
class OutputSide:
    """Output capacity held apart from the input side (Bedrock's Reserved tier)."""

    units: int
    usd_per_unit_hour: Decimal
    tokens_per_minute: Decimal  # output tokens a minute per unit

    @property
    def hourly_cost(self) -> Decimal:
        return self.usd_per_unit_hour * self.units


@dataclass(frozen=True, slots=True)
class Capacity:
    """Units of one offer held on one term, used at ``utilisation``.

    ``usd_per_unit_hour`` is the term's price per unit-hour; where the term is
    priced per unit-month (``usd_per_unit_month`` set) it is that price over
    DEFAULT_HOURS_PER_MONTH, for display, and the month's price is what is billed.
    ``output`` is the output side where the offer sells it apart (then
    ``output_weight`` is 0: output tokens use none of the input side)."""

    offer: OfferSpec
    term: str
    units: int
    usd_per_unit_hour: Decimal
    tokens_per_minute: Decimal  # per unit, input-token equivalents
    output_weight: Decimal
    utilisation: Decimal
    usd_per_unit_month: Decimal | None = None
    output: OutputSide | None = None

    def per_hour(self, hours: Decimal = DEFAULT_HOURS_PER_MONTH) -> Decimal:
        """What an hour of the capacity costs; a month-priced term's month spread
        over ``hours`` (exact where the division ends, else 10 places)."""
        if self.usd_per_unit_month is None:
            held = self.usd_per_unit_hour * self.units
        else:
            held = divide(self.usd_per_unit_month * self.units, hours)
        return held + (self.output.hourly_cost if self.output else Decimal(0))

    @property
    def hourly_cost(self) -> Decimal:
        return self.per_hour()

    def monthly_cost(self, hours: Decimal = DEFAULT_HOURS_PER_MONTH) -> Decimal:
        out = monthly_cost(self.output.hourly_cost, hours) if self.output else Decimal(0)
        if self.usd_per_unit_month is not None:
            return self.usd_per_unit_month * self.units + out
        return monthly_cost(self.usd_per_unit_hour * self.units, hours) + out

    @property
    def tokens_per_hour(self) -> Decimal:
        """Input-token equivalents the units serve in an hour at ``utilisation``."""
        return self.tokens_per_minute * self.units * _MINUTES_PER_HOUR * self.utilisation

    @property
    def output_tokens_per_hour(self) -> Decimal:
        """Output tokens the output side serves in an hour (0: no output side)."""
        if self.output is None:
            return Decimal(0)
        side = self.output
        return side.tokens_per_minute * side.units * _MINUTES_PER_HOUR * self.utilisation

    def load(self, input_tokens: Decimal, output_tokens: Decimal) -> Decimal:
        return input_tokens + output_tokens * self.output_weight

    def call_cost(
        self,
        input_tokens: Decimal,
        output_tokens: Decimal,
        hours: Decimal = DEFAULT_HOURS_PER_MONTH,
    ) -> Decimal:
        """A call's share of the hour: hourly cost x its load / capacity per hour
        (exact where the division ends, else half-even to 10 places). ``hours``
        matters only to a month-priced term: its share of the month."""
        load = self.load(input_tokens, output_tokens)
        if self.output is not None:
            out_tph = self.output_tokens_per_hour
            inp = self.usd_per_unit_hour * self.units * load * out_tph
            out = self.output.hourly_cost * output_tokens * self.tokens_per_hour
            return divide(inp + out, self.tokens_per_hour * out_tph)
        if self.usd_per_unit_month is not None:
            return divide(self.monthly_cost(hours) * load, self.tokens_per_hour * hours)
        return divide(self.hourly_cost * load, self.tokens_per_hour)

    def requests_served(
        self, input_tokens: Decimal, output_tokens: Decimal, hours: Decimal
    ) -> Decimal:
        """Calls of this size the capacity carries in ``hours``: the fewer of what
        each side carries (0 where the call has no tokens)."""
        limits = []
        load = self.load(input_tokens, output_tokens)
        if load > 0:
            limits.append(divide(self.tokens_per_hour * hours, load))
        if self.output is not None and output_tokens > 0:
            limits.append(divide(self.output_tokens_per_hour * hours, output_tokens))
        return min(limits) if limits else Decimal(0)

    def output_units_needed(
        self, requests: Decimal, output_tokens: Decimal, hours: Decimal
    ) -> int | None:
        """Output-side units a volume needs (None: the offer has no output side)."""
        side, spec = self.output, self.offer.output_capacity
        if side is None or spec is None:
            return None
        per_unit = side.tokens_per_minute * _MINUTES_PER_HOUR * self.utilisation * hours
        return fewest_units(requests * output_tokens / per_unit, spec.minimum_units, spec.increment)


def _offer(offers: dict[str, OfferSpec], offer_id: str) -> OfferSpec:
    found = offers.get(offer_id.strip().lower())
    if found is None:
        raise ProvisionedError(
            f"unknown provisioned offer {offer_id!r}; known: {', '.join(sorted(offers))}"
        )
    return found


def _check_count(offer_id: str, unit: str, minimum: int, increment: int, units: int) -> None:
    if units <= 0 or units > MAX_UNITS:
        raise ProvisionedError(f"units must be a whole number from 1 to {MAX_UNITS:,}, got {units}")
    if units < minimum:
        raise ProvisionedError(f"{offer_id} needs at least {minimum} {unit}, got {units}")
    if (units - minimum) % increment:
        raise ProvisionedError(
            f"{offer_id} is bought as {minimum} {unit} and up in steps of "
            f"{increment}; {units} is not one of those"
        )


def _check_units(offer: OfferSpec, units: int) -> None:
    _check_count(offer.id, offer.unit, offer.minimum_units, offer.increment, units)


def _price(offer: OfferSpec, term: str, given: Decimal | None) -> tuple[Decimal, Decimal | None]:
    """USD per unit-hour on ``term``, and USD per unit-month where that is how
    the term is priced (the hour's price is then the month's over 720 hours)."""
    if term not in offer.terms:
        raise ProvisionedError(
            f"{offer.id} is not sold on the term {term!r}; its terms: {', '.join(offer.terms)}"
        )
    if given is not None:
        if given <= 0:
            raise ProvisionedError(f"the price per {offer.unit}-hour must be above 0, got {given}")
        return given, None
    price = offer.usd_per_unit_hour.get(term)
    if price is not None:
        return price, None
    month = offer.usd_per_unit_month.get(term)
    if month is not None:
        return divide(month, DEFAULT_HOURS_PER_MONTH), month
    raise ProvisionedError(
        f"{offer.id} has no published price per {offer.unit}-hour on the term {term!r} "
        f"here; give it with --unit-price (USD per {offer.unit}-hour)"
    )


def _given_or(given: Decimal | None, published: Decimal | None) -> Decimal | None:
    """The caller's figure where it gave one, else the vendor's (None: neither)."""
    return given if given is not None else published


def _throughput(
    offer: OfferSpec, tokens_per_minute: Decimal | None, output_weight: Decimal | None
) -> tuple[Decimal, Decimal]:
    published = offer.throughput
    tpm = _given_or(tokens_per_minute, published.input_tokens_per_minute if published else None)
    if tpm is None:
        raise ProvisionedError(
            f"{offer.id}: the vendor publishes no throughput per {offer.unit}; give the "
            f"tokens a minute one {offer.unit} serves with --tokens-per-minute"
        )
    if offer.output_capacity is not None:
        if output_weight is not None:
            raise ProvisionedError(
                f"{offer.id} sells output capacity apart ({offer.output_capacity.unit}): "
                "--output-weight does not apply; give --output-units"
            )
        if tpm <= 0:
            raise ProvisionedError("--tokens-per-minute must be above 0")
        return tpm, Decimal(0)
    weight = _given_or(output_weight, published.output_weight if published else None)
    if weight is None:
        raise ProvisionedError(
            f"{offer.id}: no published weight of an output token against this capacity; "
            "give it with --output-weight (input tokens one output token uses)"
        )
    if tpm <= 0 or weight <= 0:
        raise ProvisionedError("--tokens-per-minute and --output-weight must be above 0")
    return tpm, weight


def _output_side(offer: OfferSpec, term: str, units: int | None) -> OutputSide | None:
    spec = offer.output_capacity
    if spec is None:
        if units is not None:
            raise ProvisionedError(
                f"{offer.id} sells no output capacity apart; --output-units does not apply"
            )
        return None
    if units is None:
        raise ProvisionedError(
            f"{offer.id} sells output capacity apart from input: give --output-units "
            f"(units of {spec.unit}, at least {spec.minimum_units})"
        )
    _check_count(offer.id, spec.unit, spec.minimum_units, spec.increment, units)
    price = next((p for t, p in spec.usd_per_unit_hour.items() if t == term), None)
    if price is None:
        raise ProvisionedError(
            f"{offer.id} has no published price per {spec.unit}-hour on the term {term!r}"
        )
    return OutputSide(units, price, spec.tokens_per_minute)


def capacity(
    offers: dict[str, OfferSpec],
    offer_id: str,
    term: str,
    units: int,
    utilisation: Decimal = Decimal(1),
    *,
    unit_price: Decimal | None = None,
    tokens_per_minute: Decimal | None = None,
    output_weight: Decimal | None = None,
    output_units: int | None = None,
) -> Capacity:
    """``units`` of an offer on ``term`` (and ``output_units`` of its output side
    where it sells one apart); what the offer lacks comes from the arguments."""
    offer = _offer(offers, offer_id)
    if not 0 < utilisation <= 1:
        raise ProvisionedError(f"utilisation is a share above 0 and at most 1, got {utilisation}")
    _check_units(offer, units)
    price, month = _price(offer, term, unit_price)
    tpm, weight = _throughput(offer, tokens_per_minute, output_weight)
    side = _output_side(offer, term, output_units)
    return Capacity(offer, term, units, price, tpm, weight, utilisation, month, side)
