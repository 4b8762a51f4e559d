"""The words and signs a price list is shown with, by ``llmtally prices`` and the
dashboard's Models page alike: each price in its own currency's sign, and the
condition and rates of a length tier."""

from __future__ import annotations

from decimal import Decimal

from llmtally.catalog.listing import Cliff, PriceRow

__all__ = ["TIERS_SUBTITLE", "TIERS_TITLE", "TITLE", "PriceSigns", "tier_rates", "tier_when"]

TITLE = "Prices per 1M tokens ({}), in force now"


class PriceSigns:
    """Each shown currency's sign: its own, or the distinct one (``CN¥``, ``JP¥``)
    where two shown currencies share it (:func:`llmtally.currency.symbols_for`)."""

    def __init__(self, rows: list[PriceRow]) -> None:
        from llmtally.currency import symbols_for

        self.codes = sorted({r.currency for r in rows}) or ["USD"]
        self.symbols = symbols_for(self.codes)

    def rate(self, value: Decimal | None, code: str, none: str = "-") -> str:
        """A unit price by llmtally.money's rule for rates (cents at least, up to
        four significant digits), with ``code``'s sign in place of the dollar."""
        from llmtally.money import usd_rate

        shown = usd_rate(value, none)
        return shown if value is None else shown.replace("$", self.symbols[code], 1)

    def title(self) -> str:
        if len(self.codes) == 1:
            return TITLE.format(self.codes[0])
        return TITLE.format(", ".join(f"{self.symbols[c]} {c}" for c in self.codes))


TIERS_TITLE = "Length tiers: the whole request re-priced at"
TIERS_SUBTITLE = "the tier's rate, else the model's"


def tier_when(cliff: Cliff) -> str:
    """``prompt > 32,768``, ``output > 200``, or both joined by ``and``."""
    conditions = [f"prompt > {cliff.above:,}"] if cliff.above else []
    if cliff.output_above is not None:
        conditions.append(f"output > {cliff.output_above:,}")
    return " and ".join(conditions)


def tier_rates(r: PriceRow, cliff: Cliff) -> list[Decimal | None]:
    """input, cached in, output, thinking out in the tier: its own rate, else the
    row's (a tier re-prices only the rates it names)."""
    base = (r.input, r.cache_read, r.output, r.output_thinking)
    names = ("input", "cache_read", "output", "output_thinking")
    return [
        getattr(cliff.rates, name) if getattr(cliff.rates, name) is not None else value
        for name, value in zip(names, base, strict=True)
    ]
