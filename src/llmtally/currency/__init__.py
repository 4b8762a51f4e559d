"""Money that carries its currency, dated exchange rates, and showing both.

- :mod:`~llmtally.currency.codes`: ISO 4217 code, symbol, minor digits.
- :mod:`~llmtally.currency.amount`: :class:`Money`; mixed-currency sums refused.
- :mod:`~llmtally.currency.rates` and :mod:`~llmtally.currency.rates_file`:
  the shipped, dated reference rates and the user's override file.
- :mod:`~llmtally.currency.plausible`: a user's rate checked against the shipped one.
- :mod:`~llmtally.currency.convert`: the latest rate on or before a day.
- :mod:`~llmtally.currency.display`: symbol, grouping, minor digits; exact forms.

See docs/currencies.md and docs/decisions.md ("Currencies").
"""

from llmtally.currency.amount import CurrencyMismatchError, Money, total
from llmtally.currency.codes import (
    CURRENCIES,
    Currency,
    UnknownCurrencyError,
    currency,
    symbols_for,
)
from llmtally.currency.convert import Converted, NoRateError, convert
from llmtally.currency.display import format_money, money_exact, money_json
from llmtally.currency.rates import Rate, RateTable
from llmtally.currency.rates_file import (
    RatesFileError,
    open_rates,
    parse_rates,
    rates_file,
    read_rates_file,
    shipped_rates,
)

__all__ = [
    "CURRENCIES",
    "Converted",
    "Currency",
    "CurrencyMismatchError",
    "Money",
    "NoRateError",
    "Rate",
    "RateTable",
    "RatesFileError",
    "UnknownCurrencyError",
    "convert",
    "currency",
    "format_money",
    "money_exact",
    "money_json",
    "open_rates",
    "parse_rates",
    "rates_file",
    "read_rates_file",
    "shipped_rates",
    "symbols_for",
    "total",
]
