"""A GenAI span's own cost: what its producer said the call cost.

Two shapes are read, the proposal's first:

- The open semantic-conventions proposal "Add per-operation cost conventions
  (gen_ai.usage.cost.*)", open-telemetry/semantic-conventions-genai pull
  request 443 (open, August 2026; not in a released semconv version yet):
  ``gen_ai.usage.cost.amount`` (double), ``gen_ai.usage.cost.currency`` (ISO
  4217 code, required with an amount) and ``gen_ai.usage.cost.source``
  (``provider``: the figure came in the response; ``local``: the recorder
  priced it). A USD amount is kept as sent. Another currency llmtally has
  rates for (a CNY span from another llmtally, issue 17) is converted to USD
  at the rate of the span's UTC start day, as the ledger converts its own
  (``currency.pivot.usd_amount``), and the call flagged ``otel_cost_converted``
  (the figure is no longer the producer's digits). A currency with no rate
  that day, or an unknown code, is not stored (``otel_cost_not_usd``); none
  named, ``otel_cost_no_currency``.
- OpenLIT's ``gen_ai.usage.cost``: one double, in USD
  (https://github.com/openlit/openlit, ``sdk/python/src/openlit/semcov``).

An amount that cannot be a call's cost (negative, NaN, infinite, not a number,
above ``llmtally.source_cost.MAX_SOURCE_COST``) is dropped and the call flagged
``otel_cost_ignored``: a producer's bad cost never costs the span its row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from llmtally.currency.pivot import PIVOT, usd_amount
from llmtally.source_cost import checked_source_cost, source_amount

__all__ = ["COST_AMOUNT", "COST_CURRENCY", "OPENLIT_COST", "span_cost"]

COST_AMOUNT = "gen_ai.usage.cost.amount"
COST_CURRENCY = "gen_ai.usage.cost.currency"
OPENLIT_COST = "gen_ai.usage.cost"

Scalar = str | bool | int | float | None


def span_cost(
    attrs: Mapping[str, Scalar], flags: list[str], started: dt.datetime
) -> Decimal | None:
    """The producer's cost of the call in USD, or None (with a flag when one was
    given but not kept); another currency at the rate of ``started``'s UTC day."""
    if attrs.get(COST_AMOUNT) is not None:
        currency = attrs.get(COST_CURRENCY)
        if not isinstance(currency, str) or not currency.strip():
            flags.append("otel_cost_no_currency")
            return None
        code = currency.strip().upper()
        amount = _amount(attrs[COST_AMOUNT], flags)
        return amount if amount is None or code == PIVOT else _in_usd(amount, code, started, flags)
    if attrs.get(OPENLIT_COST) is not None:
        return _amount(attrs[OPENLIT_COST], flags)
    return None


def _in_usd(amount: Decimal, code: str, started: dt.datetime, flags: list[str]) -> Decimal | None:
    usd = usd_amount(amount, code, started)
    kept = None if usd is None else checked_source_cost(usd)
    flags.append("otel_cost_not_usd" if kept is None else "otel_cost_converted")
    return kept


def _amount(value: Scalar, flags: list[str]) -> Decimal | None:
    amount = source_amount(value)
    if amount is None:
        flags.append("otel_cost_ignored")
    return amount
