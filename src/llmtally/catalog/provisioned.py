"""Provisioned capacity: throughput rented by the hour (Azure PTUs, Bedrock model units).

Capacity is priced by time, like a self-hosted instance: you pay for every hour
of the units you hold, used or not, and a call through it costs its share of
the hour::

    hourly cost       = units x USD per unit-hour (at the term)
    call load         = input tokens + output tokens x output weight
    capacity per hour = units x tokens per minute per unit x 60 x utilisation
    cost of a call    = hourly cost x call load / capacity per hour
    monthly cost      = hourly cost x hours a month            (selfhost.economics)

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
from decimal import Decimal
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
    "ProvisionedError",
    "ProvisionedFile",
    "Term",
    "Throughput",
    "capacity",
    "load_offers",
]

OFFERS_FILE = Path(__file__).parent / "data" / "provisioned" / "offers.yaml"
Term = Literal["hourly", "monthly", "yearly", "1-month", "6-month"]
TERMS: tuple[str, ...] = ("hourly", "monthly", "yearly", "1-month", "6-month")
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
    throughput: Throughput | None = None
    source: str = Field(min_length=1)
    checked: dt.date | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _priced_terms_are_offered(self) -> OfferSpec:
        extra = [t for t in self.usd_per_unit_hour if t not in self.terms]
        if extra:
            raise ValueError(f"usd_per_unit_hour names terms not in 'terms': {', '.join(extra)}")
        if any(price <= 0 for price in self.usd_per_unit_hour.values()):
            raise ValueError("usd_per_unit_hour: every price must be greater than 0")
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


@dataclass(frozen=True, slots=True)
class Capacity:
    """Units of one offer held on one term, used at ``utilisation``."""

    offer: OfferSpec
    term: str
    units: int
    usd_per_unit_hour: Decimal
    tokens_per_minute: Decimal  # per unit, input-token equivalents
    output_weight: Decimal
    utilisation: Decimal

    @property
    def hourly_cost(self) -> Decimal:
        return self.usd_per_unit_hour * self.units

    def monthly_cost(self, hours: Decimal = DEFAULT_HOURS_PER_MONTH) -> Decimal:
        return monthly_cost(self.hourly_cost, hours)

    @property
    def tokens_per_hour(self) -> Decimal:
        """Input-token equivalents the units serve in an hour at ``utilisation``."""
        return self.tokens_per_minute * self.units * _MINUTES_PER_HOUR * self.utilisation

    def load(self, input_tokens: Decimal, output_tokens: Decimal) -> Decimal:
        return input_tokens + output_tokens * self.output_weight

    def call_cost(self, input_tokens: Decimal, output_tokens: Decimal) -> Decimal:
        """A call's share of the hour: hourly cost x its load / capacity per hour
        (exact where the division ends, else half-even to 10 places)."""
        share = self.hourly_cost * self.load(input_tokens, output_tokens)
        return divide(share, self.tokens_per_hour)


def _offer(offers: dict[str, OfferSpec], offer_id: str) -> OfferSpec:
    found = offers.get(offer_id.strip().lower())
    if found is None:
        raise ProvisionedError(
            f"unknown provisioned offer {offer_id!r}; known: {', '.join(sorted(offers))}"
        )
    return found


def _check_units(offer: OfferSpec, units: int) -> None:
    if units <= 0 or units > MAX_UNITS:
        raise ProvisionedError(f"units must be a whole number from 1 to {MAX_UNITS:,}, got {units}")
    if units < offer.minimum_units:
        raise ProvisionedError(
            f"{offer.id} needs at least {offer.minimum_units} {offer.unit}, got {units}"
        )
    if (units - offer.minimum_units) % offer.increment:
        raise ProvisionedError(
            f"{offer.id} is bought as {offer.minimum_units} {offer.unit} and up in steps of "
            f"{offer.increment}; {units} is not one of those"
        )


def _price(offer: OfferSpec, term: str, given: Decimal | None) -> Decimal:
    if term not in offer.terms:
        raise ProvisionedError(
            f"{offer.id} is not sold on the term {term!r}; its terms: {', '.join(offer.terms)}"
        )
    if given is not None:
        if given <= 0:
            raise ProvisionedError(f"the price per {offer.unit}-hour must be above 0, got {given}")
        return given
    price = offer.usd_per_unit_hour.get(term)
    if price is None:
        raise ProvisionedError(
            f"{offer.id} has no published price per {offer.unit}-hour on the term {term!r} "
            f"here; give it with --unit-price (USD per {offer.unit}-hour)"
        )
    return price


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
    weight = _given_or(output_weight, published.output_weight if published else None)
    if weight is None:
        raise ProvisionedError(
            f"{offer.id}: no published weight of an output token against this capacity; "
            "give it with --output-weight (input tokens one output token uses)"
        )
    if tpm <= 0 or weight <= 0:
        raise ProvisionedError("--tokens-per-minute and --output-weight must be above 0")
    return tpm, weight


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
) -> Capacity:
    """``units`` of an offer on ``term``; what the offer lacks comes from the arguments."""
    offer = _offer(offers, offer_id)
    if not 0 < utilisation <= 1:
        raise ProvisionedError(f"utilisation is a share above 0 and at most 1, got {utilisation}")
    _check_units(offer, units)
    price = _price(offer, term, unit_price)
    tpm, weight = _throughput(offer, tokens_per_minute, output_weight)
    return Capacity(offer, term, units, price, tpm, weight, utilisation)
