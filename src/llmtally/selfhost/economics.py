"""What self-hosting costs per month and per token, and where it breaks even with APIs.

::

    monthly_cost          = usd_per_hour x hours_per_month          (720 h by default)
    output_tokens/month   = tokens_per_second x 3600 x hours_per_month x utilization
    usd per 1M output     = monthly_cost / output_tokens_per_month x 10^6
    API blended per 1M    = (in x input_rate + out x output_rate) / (in + out)   (mix in:out, 3:1)
    break-even tokens     = monthly_cost / blended_per_1M x 10^6    (input + output, per month)
    break-even utilization= break-even tokens / tokens the instance serves in a month at 100% busy

The instance is paid for every hour of the month; utilization is the share of
those hours it is busy. Tokens served count input and output at the mix:
``output x (in + out) / out``, prompt processing taken as free (see
:mod:`llmtally.selfhost.throughput`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from llmtally.selfhost.tables import SelfHostError

if TYPE_CHECKING:
    from llmtally.catalog import Catalog

__all__ = [
    "DEFAULT_HOURS_PER_MONTH",
    "ApiComparison",
    "Mix",
    "blended_per_million",
    "break_even_tokens",
    "compare_apis",
    "monthly_cost",
    "output_tokens_per_month",
    "usd_per_million_output",
]

DEFAULT_HOURS_PER_MONTH = Decimal(720)
_MILLION = Decimal(1_000_000)
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True, slots=True)
class Mix:
    """Input:output token ratio of the workload."""

    input: Decimal = Decimal(3)
    output: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if self.input < 0 or self.output <= 0:
            raise SelfHostError(f"the input:output mix needs input >= 0 and output > 0, got {self}")

    @classmethod
    def parse(cls, text: str) -> Mix:
        parts = text.split(":")
        try:
            if len(parts) != 2:
                raise ArithmeticError
            return cls(Decimal(parts[0]), Decimal(parts[1]))
        except ArithmeticError:
            raise SelfHostError(f"the mix is IN:OUT such as 3:1, got {text!r}") from None

    def __str__(self) -> str:
        return f"{self.input.normalize():f}:{self.output.normalize():f}"

    @property
    def total_per_output(self) -> Decimal:
        """Tokens (input + output) per output token."""
        return (self.input + self.output) / self.output


def monthly_cost(usd_per_hour: Decimal, hours: Decimal = DEFAULT_HOURS_PER_MONTH) -> Decimal:
    return usd_per_hour * hours


def output_tokens_per_month(
    tokens_per_second: Decimal, hours: Decimal, utilization: Decimal
) -> Decimal:
    return tokens_per_second * _SECONDS_PER_HOUR * hours * utilization


def usd_per_million_output(
    usd_per_hour: Decimal, tokens_per_second: Decimal, utilization: Decimal
) -> Decimal:
    """The instance's hourly price spread over the output tokens it makes while busy."""
    return usd_per_hour / (tokens_per_second * _SECONDS_PER_HOUR * utilization) * _MILLION


def blended_per_million(input_rate: Decimal, output_rate: Decimal, mix: Mix) -> Decimal:
    return (mix.input * input_rate + mix.output * output_rate) / (mix.input + mix.output)


def break_even_tokens(monthly: Decimal, blended: Decimal) -> Decimal:
    """Tokens a month (input + output at the mix) whose API bill equals ``monthly``."""
    return monthly / blended * _MILLION


@dataclass(frozen=True, slots=True)
class ApiComparison:
    provider: str
    model: str
    input_per_1m: Decimal
    output_per_1m: Decimal
    blended_per_1m: Decimal
    break_even_tokens: Decimal
    break_even_utilization: Decimal
    api_cost_at_volume: Decimal
    self_host_cheaper: bool


def compare_apis(
    catalog: Catalog,
    names: Iterable[str],
    monthly: Decimal,
    full_capacity_tokens: Decimal,
    utilization: Decimal,
    mix: Mix,
    at: dt.datetime | None = None,
) -> list[ApiComparison]:
    """Break-even of ``monthly`` against each API model in ``names``.

    ``full_capacity_tokens`` is what the instance serves in a month at 100% busy
    (input + output at the mix); ``api_cost_at_volume`` prices what it serves at
    ``utilization``.
    """
    rows = []
    for name in names:
        price = catalog.price_at(None, name, at)
        rates = price.rates
        if rates.input is None or rates.output is None:
            raise SelfHostError(f"{price.provider}/{price.model} has no per-token price")
        blended = blended_per_million(rates.input, rates.output, mix)
        if blended <= 0:
            raise SelfHostError(f"{price.provider}/{price.model} is free at this mix")
        tokens = break_even_tokens(monthly, blended)
        api_cost = full_capacity_tokens * utilization * blended / _MILLION
        rows.append(
            ApiComparison(
                provider=price.provider,
                model=price.model,
                input_per_1m=rates.input,
                output_per_1m=rates.output,
                blended_per_1m=blended,
                break_even_tokens=tokens,
                break_even_utilization=tokens / full_capacity_tokens,
                api_cost_at_volume=api_cost,
                self_host_cheaper=api_cost > monthly,
            )
        )
    return rows
