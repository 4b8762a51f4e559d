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

The break-even volume can lie beyond what the units held can serve. Cost and
capacity both scale with units, so more units never bring it within reach: a
request at full use costs USD per unit-hour / requests per unit-hour whatever the
units, and some number of units breaks even only where that is below the
on-demand price of a request (``pays_at_full_use``). Where the output side is
bought apart, ``provisioned per request`` is that cost with the sides in
proportion; held out of proportion the units may fall short of a break-even
that proportioned units reach.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from llmtally.catalog.provisioned import Capacity, ProvisionedError, fewest_units
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
        return self._units_for(self.requests_per_month)

    def _units_for(self, requests: Decimal) -> int:
        offer, cap = self.capacity.offer, self.capacity
        per_unit = cap.tokens_per_minute * 60 * cap.utilisation * self.hours_per_month
        needed = requests * self.load_per_request / per_unit
        return fewest_units(needed, offer.minimum_units, offer.increment)

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
    def break_even_reachable(self) -> bool | None:
        """Whether the units held can serve the break-even volume (None: no break-even)."""
        even = self.break_even_requests_per_month
        return None if even is None else even <= self.capacity_requests_per_month

    @property
    def pays_at_full_use(self) -> bool:
        """Whether a request through fully used capacity costs less than on demand:
        the one condition under which some number of units breaks even."""
        return self.provisioned_per_request < self.on_demand_per_request

    @property
    def break_even_units(self) -> Capacity | None:
        """Where the units held fall short of the break-even but a request at full use
        pays: the output side bought apart, held out of proportion. The short side
        raised to the fewest units that carry what the other side does; None where
        that does not reach the break-even either, or the units held already do."""
        cap, side = self.capacity, self.capacity.output
        if self.break_even_reachable is not False or not self.pays_at_full_use or side is None:
            return None
        hours, load, outp = self.hours_per_month, self.load_per_request, self.output_per_request
        if load <= 0 or outp <= 0:  # one side only is used: no proportion to restore
            return None
        volume = max(  # what the longer side carries
            divide(cap.tokens_per_hour * hours, load),
            divide(cap.output_tokens_per_hour * hours, outp),
        )
        units = self._units_for(volume)
        out_units = cap.output_units_needed(volume, outp, hours) or side.units
        scaled = replace(cap, units=units, output=replace(side, units=out_units))
        return scaled if replace(self, capacity=scaled).break_even_reachable else None

    @property
    def requests_per_unit_hour(self) -> Decimal | None:
        """Requests one unit serves in an hour at the utilisation (None where the
        output side is bought apart: then no one unit serves a request)."""
        if self.capacity.output is not None:
            return None
        return divide(self.capacity_requests_per_month, self.hours_per_month * self.capacity.units)

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
            "break_even_reachable": self.break_even_reachable,
            "pays_at_full_use": self.pays_at_full_use,
            "break_even_units": self._break_even_units_json(),
            "requests_per_unit_hour": None
            if self.requests_per_unit_hour is None
            else decimal_text(self.requests_per_unit_hour),
            "cheaper": self.cheaper,
            "source": offer.source,
        } | self._priced_apart()

    def _break_even_units_json(self) -> dict[str, int | None] | None:
        scaled = self.break_even_units
        if scaled is None:
            return None
        return {
            "units": scaled.units,
            "output_units": scaled.output.units if scaled.output else None,
        }

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
