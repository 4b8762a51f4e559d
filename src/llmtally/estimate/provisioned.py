"""On-demand against provisioned capacity for a workload: the monthly cost of each,
what a request costs through the capacity, and the break-even volume.

::

    tokens per request      = sum over the model's calls of calls per request x tokens
                              (input includes any cached prefix; output includes reasoning)
    provisioned per month   = units x USD per unit-hour x hours a month     (paid used or not)
    provisioned per request = the request's share of the hour (catalog.provisioned)
    capacity per month      = capacity per hour x hours / load per request  (requests)
    break-even requests     = provisioned per month / on-demand per request
    break-even tokens       = break-even requests x tokens per request

Below the break-even volume on-demand is cheaper; above it provisioned is,
as long as the volume fits the capacity (else more units are needed, and
``units_needed`` says how many).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from llmtally.catalog.provisioned import Capacity, ProvisionedError
from llmtally.estimate.result import Estimate, ModelEstimate, divide
from llmtally.meter import decimal_text
from llmtally.selfhost.economics import DEFAULT_HOURS_PER_MONTH

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One on-demand model row against one provisioned capacity."""

    model: str
    capacity: Capacity
    hours_per_month: Decimal
    requests_per_month: Decimal
    input_per_request: Decimal
    output_per_request: Decimal
    on_demand_per_request: Decimal
    on_demand_per_month: Decimal

    @property
    def provisioned_per_month(self) -> Decimal:
        return self.capacity.monthly_cost(self.hours_per_month)

    @property
    def provisioned_per_request(self) -> Decimal:
        cap = self.capacity
        return cap.call_cost(self.input_per_request, self.output_per_request, self.hours_per_month)

    @property
    def load_per_request(self) -> Decimal:
        return self.capacity.load(self.input_per_request, self.output_per_request)

    @property
    def capacity_requests_per_month(self) -> Decimal:
        return self.capacity.requests_served(
            self.input_per_request, self.output_per_request, self.hours_per_month
        )

    @property
    def fits(self) -> bool:
        return self.requests_per_month <= self.capacity_requests_per_month

    @property
    def units_needed(self) -> int:
        """The fewest units the offer sells that carry the workload's volume."""
        offer, cap = self.capacity.offer, self.capacity
        per_unit = cap.tokens_per_minute * 60 * cap.utilisation * self.hours_per_month
        needed = self.requests_per_month * self.load_per_request / per_unit
        if needed <= offer.minimum_units:
            return offer.minimum_units
        steps = ((needed - offer.minimum_units) / offer.increment).to_integral_value(ROUND_CEILING)
        return offer.minimum_units + int(steps) * offer.increment

    @property
    def output_units_needed(self) -> int | None:
        """Output-side units the volume needs (None: the offer sells no output side)."""
        return self.capacity.output_units_needed(
            self.requests_per_month, self.output_per_request, self.hours_per_month
        )

    @property
    def break_even_requests_per_month(self) -> Decimal | None:
        if self.on_demand_per_request <= 0:
            return None
        return divide(self.provisioned_per_month, self.on_demand_per_request)

    @property
    def break_even_tokens_per_month(self) -> Decimal | None:
        requests = self.break_even_requests_per_month
        tokens = self.input_per_request + self.output_per_request
        return None if requests is None else requests * tokens

    @property
    def cheaper(self) -> str:
        if self.fits and self.provisioned_per_month < self.on_demand_per_month:
            return "provisioned"
        return "on-demand"

    def as_json(self) -> dict[str, Any]:
        cap, offer = self.capacity, self.capacity.offer
        even_requests = self.break_even_requests_per_month
        even_tokens = self.break_even_tokens_per_month
        return {
            "model": self.model,
            "offer": offer.id,
            "provider": offer.provider,
            "deployment": offer.deployment,
            "term": cap.term,
            "units": cap.units,
            "unit": offer.unit,
            "usd_per_unit_hour": decimal_text(cap.usd_per_unit_hour),
            "tokens_per_minute_per_unit": decimal_text(cap.tokens_per_minute),
            "output_weight": decimal_text(cap.output_weight),
            "utilisation": decimal_text(cap.utilisation),
            "hours_per_month": decimal_text(self.hours_per_month),
            "requests_per_month": decimal_text(self.requests_per_month),
            "input_tokens_per_request": decimal_text(self.input_per_request),
            "output_tokens_per_request": decimal_text(self.output_per_request),
            "on_demand_per_request": decimal_text(self.on_demand_per_request),
            "on_demand_per_month": decimal_text(self.on_demand_per_month),
            "provisioned_per_hour": decimal_text(cap.per_hour(self.hours_per_month)),
            "provisioned_per_month": decimal_text(self.provisioned_per_month),
            "provisioned_per_request": decimal_text(self.provisioned_per_request),
            "capacity_requests_per_month": decimal_text(self.capacity_requests_per_month),
            "fits": self.fits,
            "units_needed": self.units_needed,
            "break_even_requests_per_month": None
            if even_requests is None
            else decimal_text(even_requests),
            "break_even_tokens_per_month": None
            if even_tokens is None
            else decimal_text(even_tokens),
            "cheaper": self.cheaper,
            "source": offer.source,
        } | self._priced_apart()

    def _priced_apart(self) -> dict[str, Any]:
        """A month-priced term's price, and an output side bought apart, where there are."""
        cap, extra = self.capacity, dict[str, Any]()
        if cap.usd_per_unit_month is not None:
            extra["usd_per_unit_month"] = decimal_text(cap.usd_per_unit_month)
        if cap.output is not None and cap.offer.output_capacity is not None:
            extra |= {
                "output_units": cap.output.units,
                "output_unit": cap.offer.output_capacity.unit,
                "usd_per_output_unit_hour": decimal_text(cap.output.usd_per_unit_hour),
                "output_tokens_per_minute_per_unit": decimal_text(cap.output.tokens_per_minute),
                "output_units_needed": self.output_units_needed,
            }
        return extra


def _tokens(row: ModelEstimate) -> tuple[Decimal, Decimal]:
    """Input and output (+ reasoning) tokens per request on the row's own model."""
    inp, out = Decimal(0), Decimal(0)
    for line in row.calls:
        if line.model != row.model:
            continue
        inp += line.per_request * line.tokens.get("input", Decimal(0))
        out += line.per_request * (
            line.tokens.get("output", Decimal(0)) + line.tokens.get("reasoning", Decimal(0))
        )
    return inp, out


def _serves(capacity: Capacity, row: ModelEstimate) -> bool:
    name = row.model.split("/", 1)[-1].lower()
    return name in {m.lower() for m in capacity.offer.models}


def compare(
    est: Estimate, capacity: Capacity, hours_per_month: Decimal = DEFAULT_HOURS_PER_MONTH
) -> list[Comparison]:
    """Each priced row of ``est`` whose model the capacity serves, against it."""
    if hours_per_month <= 0 or hours_per_month > 744:
        raise ProvisionedError(
            f"hours a month must be above 0 and at most 744, got {hours_per_month}"
        )
    if est.currency != "USD":  # offers are priced in USD: never compare unlike amounts
        raise ProvisionedError(
            f"the estimate is in {est.currency} and provisioned offers in USD: "
            "estimate in USD (--currency USD) to compare them"
        )
    rows = [r for r in est.models if _serves(capacity, r)]
    if not rows:
        served = ", ".join(capacity.offer.models)
        raise ProvisionedError(
            f"{capacity.offer.id} serves {served}; none of the estimated models "
            f"({', '.join(r.model for r in est.models)}) is one of them: add it to --models"
        )
    out = []
    for row in rows:
        if row.per_request is None or row.per_month is None:
            raise ProvisionedError(f"{row.model} has no on-demand price here: {row.error}")
        inp, outp = _tokens(row)
        if inp + outp <= 0:
            raise ProvisionedError(f"{row.model}: the workload's requests have no tokens")
        out.append(
            Comparison(
                model=row.model,
                capacity=capacity,
                hours_per_month=hours_per_month,
                requests_per_month=est.requests_per_month,
                input_per_request=inp,
                output_per_request=outp,
                on_demand_per_request=row.per_request,
                on_demand_per_month=row.per_month,
            )
        )
    return out
