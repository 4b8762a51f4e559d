"""llmtally.currency: Money, dated rates, conversion, display.

Expected values are worked by hand in the comments (long division with
integer remainders where a quotient does not end); the shipped rates quoted
are the published figures in src/llmtally/currency/data/rates.yaml.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.currency import (
    CurrencyMismatchError,
    Money,
    NoRateError,
    Rate,
    RatesFileError,
    RateTable,
    UnknownCurrencyError,
    convert,
    format_money,
    money_exact,
    money_json,
    open_rates,
    rates_file,
    shipped_rates,
    symbols_for,
    total,
)
from llmtally.money import usd

D = Decimal
NO_HOME = {"LLMTALLY_HOME": "/nonexistent/llmtally-test-home"}
OJ_2019 = "https://eur-lex.europa.eu/legal-content/EN/TXT/HTML/?uri=CELEX:C2019/331/05&from=EL"
H10_2020 = "https://www.federalreserve.gov/releases/H10/20200629/"
H10_2024_01 = "https://federalreserve.gov/releases/h10/20240116"


@pytest.fixture(scope="module")
def shipped() -> RateTable:
    return open_rates(env=NO_HOME)


def usd_amount(text: str) -> Money:
    return Money(D(text), "USD")


# --- the shipped table ------------------------------------------------------------


def test_shipped_rows_keep_the_published_digits() -> None:
    rows = {(r.day, r.base, r.quote): r for r in shipped_rates()}
    eur_jpy = rows[(date(2019, 10, 1), "EUR", "JPY")]
    assert str(eur_jpy.rate) == "118.00"  # as the OJ prints it (118,00), trailing zeros kept
    assert eur_jpy.source == OJ_2019
    assert rows[(date(2019, 10, 1), "EUR", "GBP")].rate == D("0.88955")
    # CFETS: "Japanese yen 100 4.8137" -> 1 JPY = 0.048137 CNY (decimal point moved 2 places)
    assert str(rows[(date(2025, 2, 25), "JPY", "CNY")].rate) == "0.048137"


def test_every_shipped_row_names_a_web_page() -> None:
    rows = shipped_rates()
    assert len(rows) == 29  # 3 days x 4 ECB (12), 4 days of H.10 (4+3+3+3), 1 day x 4 CFETS
    assert all(r.source.startswith(("http://", "https://")) for r in rows)


# --- conversion ------------------------------------------------------------------


def test_on_a_rate_date_direct(shipped: RateTable) -> None:
    # H.10, 12 Jan 2024: 1 USD = 7.1665 CNY; 100 x 7.1665 = 716.65
    got = convert(usd_amount("100"), "CNY", date(2024, 1, 12), shipped)
    assert got.amount == Money(D("716.65"), "CNY")
    assert (got.rate, got.rate_date, got.source) == (D("7.1665"), date(2024, 1, 12), H10_2024_01)
    assert got.original == usd_amount("100")


def test_between_two_dates_uses_the_earlier(shipped: RateTable) -> None:
    # 31 Jan 2024 lies between the H.10 days 12 Jan (7.1665) and 2 Feb (7.1920):
    # the earlier one, never the later.
    got = convert(usd_amount("100"), "CNY", date(2024, 1, 31), shipped)
    assert (got.rate, got.rate_date) == (D("7.1665"), date(2024, 1, 12))
    later = convert(usd_amount("100"), "CNY", date(2024, 2, 2), shipped)
    assert later.amount.amount == D("719.2")  # 100 x 7.1920


def test_before_the_first_date_is_an_error(shipped: RateTable) -> None:
    # The first day with a USD-CNY way is 2014-10-24 (ECB, via EUR).
    with pytest.raises(NoRateError) as err:
        convert(usd_amount("1"), "CNY", date(2014, 10, 23), shipped)
    assert str(err.value) == (
        "no USD->CNY exchange rate on or before 2014-10-23 (directly or through one "
        "other currency); the first is on 2014-10-24"
    )


def test_cross_rate_usd_to_cny_through_eur(shipped: RateTable) -> None:
    # 1 Oct 2019 (ECB, OJ C 331): 1 EUR = 1.0898 USD and 1 EUR = 7.7903 CNY, no
    # USD-CNY row yet, so 1 USD = 7.7903 / 1.0898 CNY = 77903 / 10898:
    #   77903 = 7 x 10898 + 1617          -> 7.
    #   16170 = 1 x 10898 + 5272          -> 1
    #   52720 = 4 x 10898 + 9128          -> 4
    #   91280 = 8 x 10898 + 4096          -> 8
    #   40960 = 3 x 10898 + 8266          -> 3
    #   82660 = 7 x 10898 + 6374          -> 7
    #   63740 = 5 x 10898 + 9250          -> 5
    #   92500 = 8 x 10898 + 5316          -> 8
    #   53160 = 4 x 10898 + 9568          -> 4
    #   95680 = 8 x 10898 + 8496          -> 8
    #   84960 = 7 x 10898 + 8674          -> 7
    #   86740 = 7 x 10898 + 10454         -> 7
    #  104540 = 9 x 10898 + 6458          -> 9
    #  ... continued the same way: 7.148375848779592585795558818|1317...
    # 28 significant digits, the next digit 1 rounds down:
    rate = D("7.148375848779592585795558818")
    got = convert(usd_amount("12.34"), "CNY", date(2019, 10, 1), shipped)
    assert got.rate == rate
    assert (got.rate_date, got.source) == (date(2019, 10, 1), OJ_2019)
    # The amount is 12.34 x the recorded rate (so it can be checked from the record):
    #   12    x 7.148375848779592585795558818 = 85.780510185355111029546705816
    #   0.34  x 7.148375848779592585795558818 =  2.43044778858506147917048999812
    #   sum                                   = 88.21095797394017250871719581412
    # -> 28 digits 88.21095797394017250871719581 (12.34 x the exact quotient would
    # end ...582: the rate is rounded once, then used as recorded).
    assert got.amount == Money(D("88.21095797394017250871719581"), "CNY")
    assert format_money(got.amount) == "¥88.21"


def test_inverse_rate(shipped: RateTable) -> None:
    # 1 CNY = 1 / 7.1665 USD = 10000 / 71665:
    #   100000 = 1 x 71665 + 28335; 283350 = 3 x 71665 + 68355; 683550 = 9 x 71665 + 38565
    #   385650 = 5 x 71665 + 27325; ... = 0.1395381287936928765785250819|78...
    # 28 significant digits, 78 rounds the last 9 up: ...0820
    got = convert(Money(D("1"), "CNY"), "USD", date(2024, 1, 12), shipped)
    assert got.rate == D("0.1395381287936928765785250820")
    assert format_money(got.amount) == "$0.14"


def test_the_way_with_the_newest_older_leg_wins(shipped: RateTable) -> None:
    # GBP->CNY on 20 Jan 2024: no GBP-CNY row before 2025. Via USD: GBP/USD 1.2337
    # (H.10 26 Jun 2020) and USD/CNY 7.1665 (H.10 12 Jan 2024), older leg 2020-06-26;
    # via EUR: both legs 2019-10-01. Via USD wins: 1.2337 x 7.1665
    #   = 1.2337 x 7 + 1.2337 x 0.1665 = 8.6359 + 0.20541105 = 8.84131105
    got = convert(Money(D("1"), "GBP"), "CNY", date(2024, 1, 20), shipped)
    assert got.rate == D("8.84131105")
    assert got.rate_date == date(2020, 6, 26)
    assert got.source == f"{H10_2020} + {H10_2024_01}"


def test_a_newer_cross_rate_beats_an_older_direct_one() -> None:
    # Rates made up for the rule (not shipped): a direct USD/CNY row from 2020 and
    # EUR legs from 2024. In mid-2024 the cross is newer: 9 / 1.25 = 7.2 CNY per USD;
    # in 2021 only the direct row exists; on a tie of days, direct wins.
    table = RateTable(
        [
            Rate(date(2020, 1, 1), "USD", "CNY", D("7"), "old direct"),
            Rate(date(2024, 1, 1), "EUR", "USD", D("1.25"), "a"),
            Rate(date(2024, 1, 1), "EUR", "CNY", D("9"), "b"),
        ]
    )
    newer = convert(usd_amount("1"), "CNY", date(2024, 6, 1), table)
    assert (newer.rate, newer.rate_date, newer.source) == (D("7.2"), date(2024, 1, 1), "a + b")
    assert convert(usd_amount("1"), "CNY", date(2021, 6, 1), table).rate == D("7")
    tie = RateTable(table, [Rate(date(2024, 1, 1), "CNY", "USD", D("0.125"), "direct")])
    # the tie's direct row is CNY->USD 0.125, so 1 USD = 1 / 0.125 = 8 CNY
    assert convert(usd_amount("1"), "CNY", date(2024, 6, 1), tie).rate == D("8")


def test_jpy_rounds_to_whole_yen(shipped: RateTable) -> None:
    # 1 Oct 2019: 1 USD = 118.00 / 1.0898 JPY = 1180000 / 10898
    #   1180000 = 108 x 10898 + 3016 -> 108.; 30160 = 2 x 10898 + 8364 -> 2;
    #   83640 = 7 x 10898 + 7354 -> 7; ... = 108.2767480271609469627454578|82... -> ...579
    got = convert(usd_amount("1"), "JPY", date(2019, 10, 1), shipped)
    assert got.rate == D("108.2767480271609469627454579")
    assert format_money(got.amount) == "¥108"  # 0 minor digits: .27 rounds down
    # 10 USD at H.10 26 Jun 2020 (107.1900 JPY) = 1071.9000 -> ¥1,072
    assert format_money(convert(usd_amount("10"), "JPY", date(2020, 6, 26), shipped).amount) == (
        "¥1,072"
    )


def test_same_currency_is_rate_one(shipped: RateTable) -> None:
    got = convert(usd_amount("3.5"), "USD", date(2024, 1, 1), shipped)
    assert (got.amount, got.rate) == (usd_amount("3.5"), D(1))


# --- Money -------------------------------------------------------------------------


def test_adding_mixed_currencies_is_refused() -> None:
    assert usd_amount("1.25") + usd_amount("2.5") == usd_amount("3.75")
    with pytest.raises(CurrencyMismatchError) as err:
        _ = usd_amount("1") + Money(D("7"), "CNY")
    assert str(err.value) == "cannot add 1 USD and 7 CNY: convert one of them first"
    with pytest.raises(CurrencyMismatchError):
        total([Money(D("1"), "CNY"), usd_amount("1")], "CNY")
    assert total([Money(D("1.5"), "CNY"), Money(D("2"), "CNY")], "CNY") == Money(D("3.5"), "CNY")
    assert total([], "EUR") == Money(D(0), "EUR")


def test_money_needs_a_decimal_and_a_known_code() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrencyError, match="'XYZ'"):
        Money(D(1), "XYZ")


# --- the override file -------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_override_rows_win_for_the_same_day_and_pair(tmp_path: Path) -> None:
    write(
        tmp_path / "rates.yaml",
        "rates:\n  - {date: 2024-01-12, base: USD, quote: CNY, rate: 7.2, source: my bank}\n",
    )
    table = open_rates(home=tmp_path, env={})  # <home>/rates.yaml
    got = convert(usd_amount("100"), "CNY", date(2024, 1, 12), table)
    assert (got.amount.amount, got.source) == (D("720.0"), "my bank")  # 100 x 7.2
    # other days keep the shipped rows: 2 Feb 2024 is still H.10's 7.1920
    assert convert(usd_amount("1"), "CNY", date(2024, 2, 2), table).rate == D("7.1920")


def test_override_the_other_way_round_replaces_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mine.yaml",
        "rates:\n"
        "  - date: 2024-01-12\n"
        "    base: CNY\n"
        "    quote: USD\n"
        "    rate: '0.14'\n"
        "    source: invoice 2024-01\n",
    )
    table = open_rates(env={"LLMTALLY_RATES": str(path)})
    # 1 USD = 1 / 0.14 = 100 / 14 = 7.142857142857142857142857142|857... -> ...143
    # 100 USD = 714.2857142857142857142857143 (x 100 moves the point, 28 digits kept)
    got = convert(usd_amount("100"), "CNY", date(2024, 1, 12), table)
    assert got.rate == D("7.142857142857142857142857143")
    assert got.amount.amount == D("714.2857142857142857142857143")
    assert got.source == "invoice 2024-01"


def test_rates_file_follows_the_settings_order(tmp_path: Path) -> None:
    env = {"LLMTALLY_RATES": str(tmp_path / "env.yaml"), "LLMTALLY_HOME": str(tmp_path / "h")}
    assert rates_file(tmp_path / "arg.yaml", env=env) == tmp_path / "arg.yaml"
    assert rates_file(env=env) == tmp_path / "env.yaml"
    assert rates_file(env={"LLMTALLY_HOME": str(tmp_path / "h")}) == tmp_path / "h" / "rates.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rates:\n  - {date: 2024-01-12, base: USD, quote: CNY, rate: seven, source: x}\n",
            ":2: rate: 'seven' is not a number",
        ),
        (
            "rates:\n  - date: 2024-01-12\n    base: USD\n    quote: CNY\n    rate: -1\n"
            "    source: x\n",
            ":5: rate: '-1': a rate is a positive number",
        ),
        (
            "rates:\n  - {date: 2024-13-01, base: USD, quote: CNY, rate: 7, source: x}\n",
            ":2: date: '2024-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            "rates:\n  - {date: 2024-01-12, base: USD, quote: XBT, rate: 7, source: x}\n",
            ":2: quote: unknown currency 'XBT'",
        ),
        (
            "rates:\n  - {date: 2024-01-12, base: USD, quote: CNY, rate: 7}\n",
            ":2: source: missing",
        ),
        (
            "rates:\n  - {date: 2024-01-12, base: USD, quote: CNY, rate: 7, source: x, note: y}\n",
            ":2: note: unknown field",
        ),
        (
            "rates:\n  - {date: 2024-01-12, base: USD, quote: CNY, rate: 7, source: x}\n"
            "  - {date: 2024-01-12, base: CNY, quote: USD, rate: 0.14, source: y}\n",
            ":3: a second CNY/USD rate for 2024-01-12 (the first is on line 2)",
        ),
        ("rates:\n  - {date: 2024-01-12, base: USD\n", ":3: not valid YAML"),
        ("- just a list\n", ":1: a rate file is a mapping with 'rates'"),
    ],
)
def test_a_malformed_override_file_names_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "rates.yaml", text)
    with pytest.raises(RatesFileError) as err:
        open_rates(home=tmp_path, env={})
    assert str(err.value).startswith(f"{path}{message}")


def test_an_override_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "rates.yaml").write_bytes(b"rates: [\xff]\n")
    with pytest.raises(RatesFileError, match=r"rates\.yaml: not UTF-8 text"):
        open_rates(home=tmp_path, env={})


# --- display ---------------------------------------------------------------------


def test_format_money_symbols_grouping_and_minor_digits() -> None:
    # ROUND_HALF_UP, as llmtally.money: 1234.565 -> 1,234.57 (HALF_EVEN would give .56)
    assert format_money(Money(D("1234.565"), "CNY")) == "¥1,234.57"
    # below a cent, three significant digits, then to the cent once it reaches one:
    # 0.0123 -> 0.01; 0.00999951 -> 0.0100 (3 s.d.) -> 0.01
    assert format_money(Money(D("0.0123"), "EUR")) == "€0.01"
    assert format_money(Money(D("0.00999951"), "EUR")) == "€0.01"
    assert format_money(Money(D("12345.675"), "USD")) == "$12,345.68"
    assert format_money(Money(D("0.0012249"), "GBP")) == "£0.00122"
    assert format_money(Money(D("-0.5"), "EUR")) == "-€0.50"
    assert format_money(Money(D("0"), "CNY")) == "¥0"


def test_jpy_has_no_minor_digits() -> None:
    assert format_money(Money(D("2.5"), "JPY")) == "¥3"  # half away from zero
    assert format_money(Money(D("-2.5"), "JPY")) == "-¥3"
    assert format_money(Money(D("1234.5"), "JPY")) == "¥1,235"
    assert format_money(Money(D("0.12249"), "JPY")) == "¥0.122"  # below one yen: 3 s.d.


def test_cny_and_jpy_shown_together_are_told_apart() -> None:
    assert symbols_for(["CNY", "JPY", "USD"]) == {"CNY": "CN¥", "JPY": "JP¥", "USD": "$"}
    assert symbols_for(["CNY", "USD"]) == {"CNY": "¥", "USD": "$"}
    shown = symbols_for(["CNY", "JPY"])
    assert format_money(Money(D("1234.565"), "CNY"), shown["CNY"]) == "CN¥1,234.57"
    assert format_money(Money(D("1234.5"), "JPY"), shown["JPY"]) == "JP¥1,235"


def test_exact_forms() -> None:
    money = Money(D("1234.56780"), "CNY")
    assert money_exact(money) == "¥1234.5678 CNY"  # every digit, no grouping, the code
    assert money_exact(Money(D("-3.00"), "USD")) == "-$3 USD"
    assert money_json(money) == {"amount": "1234.5678", "currency": "CNY"}


@pytest.mark.parametrize(
    "text", ["0", "12.345", "1234.5", "0.0012249", "0.00999951", "-0.5", "12345.675", "0.004"]
)
def test_usd_reads_as_the_existing_usd_formatter(text: str) -> None:
    # one set of rules: the general formatter agrees with llmtally.money.usd on USD
    assert format_money(usd_amount(text)) == usd(D(text))
