"""The ledger's pivot currency: a call billed in CNY (or EUR...) is stored in USD.

Every total, rollup, budget counter and alert of the ledger sums one currency,
USD (issue 17's design). A call whose price file is in another currency is
converted once, when its row is made, at the latest rate on or before the
call's UTC day (:func:`llmtally.currency.convert`, the shipped table with the
user's override file over it), and the row keeps what was billed beside it:

- every ``cost_*`` amount and the ``saved_*`` amounts become
  ``amount x fx_rate`` (28 significant digits, then the ledger's 10 places,
  ROUND_HALF_EVEN, ``llmtally.ledger.schema.check_fixed``). ``cost_total`` is
  the billed total converted and rounded; the parts (``cost_input`` ...
  ``cost_request``) are rounded each on its own and the rounding residue
  (the rounded total minus the sum of the rounded parts: a few units of 1e-10
  at most, half a unit per part) is added to the largest part (in size; the
  first of the largest in column order), so the parts sum exactly to ``cost_total``,
  as a ``Cost`` read back from the row (whose ``total`` is the sum of its
  parts) must. The ``saved_*`` amounts are rounded on their own;
- ``billed_currency``, ``billed_total`` (the meter's total in that currency),
  ``fx_rate`` (1 billed unit in USD, as text, every digit used), ``fx_date`` (the
  rate's day) and ``fx_source`` (where it was read).

With no rate for that day (or an override file that cannot be read) the call is
kept, unpriced as an unknown model is: ``cost_*`` NULL and the reason in
``cost_error``; ``billed_*`` still say what was billed. A USD call is not
touched (its ``billed_*`` are NULL): the caller checks the currency first, so
the gateway's path for USD calls does no more work than before.

The rate table is read once and kept; it is read again only when the override
file's path or modification time changes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmtally.config import data_home
from llmtally.currency.amount import Money
from llmtally.currency.convert import ARITHMETIC, Converted, NoRateError, convert
from llmtally.currency.rates import RateTable
from llmtally.currency.rates_file import RatesFileError, rates_file, read_rates_file, shipped_rates

__all__ = [
    "BILLED_COLUMNS",
    "NO_BILLED",
    "PIVOT",
    "pivot_row",
    "pivot_table",
    "to_usd",
    "usd_amount",
    "usd_rate",
    "utc_day",
]

PIVOT = "USD"
BILLED_COLUMNS = ("billed_currency", "billed_total", "fx_rate", "fx_date", "fx_source")
NO_BILLED: dict[str, Any] = dict.fromkeys(BILLED_COLUMNS)
# What an unpriced row has NULL besides its amounts (as a call with no cost).
_PRICE_COLUMNS = ("price_id", "price_source", "price_window", "catalog_version")

_Key = tuple[str, int | None]
_cached: tuple[_Key, RateTable] | None = None


def _override_key() -> _Key:
    path = rates_file(None, data_home(None, os.environ), os.environ)
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:  # no override file: the shipped table alone
        return str(path), None


def pivot_table() -> RateTable:
    """The shipped rates with the override file over them, read once and kept
    until the override file (its path from the environment, or its time) changes.
    RatesFileError: the override file cannot be used."""
    global _cached
    key = _override_key()
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    user = read_rates_file(Path(key[0])) if key[1] is not None else ()
    table = RateTable(shipped_rates(), user)
    _cached = (key, table)
    return table


def usd_rate(billed: str, day: dt.date) -> Converted:
    """One unit of ``billed`` in USD on ``day``: the rate, its day and source.
    NoRateError (none on or before ``day``), RatesFileError (a bad override file)."""
    return convert(Money(Decimal(1), billed), PIVOT, day, pivot_table())


def to_usd(amount: Decimal, rate: Converted) -> Decimal:
    """``amount`` (in ``rate``'s original currency) in USD: ``amount x rate`` to
    28 significant digits, as :func:`~llmtally.currency.convert` multiplies; the
    ledger then rounds it to its 10 places (``llmtally.ledger.schema.check_fixed``)."""
    return ARITHMETIC.multiply(amount, rate.rate)


def utc_day(at: dt.datetime) -> dt.date:
    """The UTC day a call's rate is taken on (a naive time is UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()


def usd_amount(amount: Decimal, billed: str, at: dt.datetime) -> Decimal | None:
    """``amount`` in ``billed`` as USD at the rate of ``at``'s UTC day (``amount``
    itself when ``billed`` is USD); None when there is no rate. For whoever counts
    a call's cost before the ledger has it (budget settlement, /metrics)."""
    if billed == PIVOT:
        return amount
    day = utc_day(at)
    try:
        return to_usd(amount, usd_rate(billed, day))
    except (LookupError, ValueError):  # no rate that day; a bad rates file
        return None


def pivot_row(row: dict[str, Any], money: Sequence[str], billed: str, day: dt.date) -> None:
    """Turn ``row``'s ``money`` columns (its cost and savings, in ``billed``) into
    USD at ``day``'s rate, in place, recording the billed total and the rate; with
    no rate, no cost and why. The amounts are rounded to the ledger's 10 places
    here, the parts settled to sum to the total (see the module's docstring)."""
    row["billed_currency"] = billed
    row["billed_total"] = row["cost_total"]
    try:
        rate = usd_rate(billed, day)
    except (NoRateError, RatesFileError, LookupError, ValueError) as exc:  # never a crash
        amount = f"{Decimal(row['billed_total']).normalize():f}"
        row["cost_error"] = (
            f"priced at {amount} {billed} ({row['price_id']}) but not converted to USD: {exc}"
        )
        row.update(dict.fromkeys((*money, *_PRICE_COLUMNS, "long_context_above")))
        row.update(fx_rate=None, fx_date=None, fx_source=None)
        return
    for name in money:
        if row[name] is not None:
            row[name] = to_usd(row[name], rate)
    _settle_parts(row, money)
    row["fx_rate"] = str(rate.rate)
    row["fx_date"] = rate.rate_date
    row["fx_source"] = rate.source


def _settle_parts(row: dict[str, Any], money: Sequence[str]) -> None:
    """Round ``row``'s converted amounts to the ledger's 10 places and give the
    largest cost part the residue, so the parts sum to the rounded ``cost_total``.
    ValueError (as the ledger's own check) for an amount it cannot hold."""
    from llmtally.ledger.schema import check_fixed  # the ledger imports this module

    for name in money:
        if row[name] is not None:
            row[name] = check_fixed(row[name])
    parts = [name for name in money if name.startswith("cost_") and name != "cost_total"]
    parts = [name for name in parts if row[name] is not None]
    if row.get("cost_total") is None or not parts:
        return
    residue = row["cost_total"] - sum((row[name] for name in parts), Decimal(0))
    if residue:
        largest = max(parts, key=lambda name: abs(row[name]))  # the first on a tie
        row[largest] = check_fixed(row[largest] + residue)
