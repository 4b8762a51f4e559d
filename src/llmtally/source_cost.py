"""The cost a call's producer reported itself, checked before the ledger keeps it.

An OpenTelemetry span may carry its producer's cost (OpenLIT's
``gen_ai.usage.cost``), and an imported tool's row its own spend (LiteLLM's
``spend``, Langfuse's ``costDetails``). llmtally keeps that figure beside its
own price (``Call.source_cost``) so that the difference shows; it never
replaces llmtally's cost. A figure that cannot be a call's cost (negative, not
a number, above :data:`MAX_SOURCE_COST`) is not kept: the call is recorded
anyway, with a flag that says the source's cost was ignored.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from llmtally.ledger.schema import check_fixed

__all__ = ["MAX_SOURCE_COST", "checked_source_cost", "source_amount"]

# No single LLM call costs a million dollars: an amount above is a producer's
# bug (a unit mix-up, micro-dollars as dollars), and it would skew every sum.
MAX_SOURCE_COST = Decimal(1_000_000)


def checked_source_cost(amount: Decimal) -> Decimal | None:
    """``amount`` rounded as the ledger stores it (10 places), or None when it
    cannot be a call's cost: not finite, negative, or above MAX_SOURCE_COST."""
    if not amount.is_finite() or amount < 0 or amount > MAX_SOURCE_COST:
        return None
    return check_fixed(amount)


def source_amount(value: object) -> Decimal | None:
    """An attribute's value as a USD amount (a number, or a number written as
    text, as OTLP JSON may), checked; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value).strip())  # str(0.0123) == "0.0123": the digits sent
    except InvalidOperation:
        return None
    return checked_source_cost(amount)
