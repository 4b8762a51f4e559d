"""One call's usage priced at the price in force when it started: the one meter
step shared by every capture path (the gateway's recorder, the OTLP ingest, the
calls ingest of forwarded SDK calls), so a call costs the same however it came in.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from llmtally.catalog import Catalog
from llmtally.meter import Cost, Savings, cost, savings
from llmtally.usage import Usage

__all__ = ["Priced", "price_usage"]


class Priced(NamedTuple):
    """The cost and what it saved, or no cost and the reason."""

    cost: Cost | None
    reason: str | None = None
    savings: Savings | None = None


def price_usage(
    usage: Usage, catalog: Catalog, provider: str, model: str, at: dt.datetime
) -> Priced:
    """``usage`` at the catalog's price for ``provider``/``model`` in force at ``at``;
    an unknown provider or model, or a rate the usage needs and the price lacks,
    gives no cost and the reason (a cost is never a silent 0)."""
    try:
        price = catalog.price_at(provider, model, at)
        paid = cost(usage, price)
        return Priced(paid, None, savings(usage, price, paid))
    except (LookupError, ValueError) as exc:
        return Priced(None, str(exc))
