"""How money and durations are shown: cents from a cent up, three significant
digits below, the exact digits on demand. Every expected string is written out
by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmtally.money import USD_TICKFORMAT, duration_ms, usd, usd_exact, usd_with_exact
from llmtally.web.render import usd as usd_html


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.0122324964", "$0.01"),
        ("12.345", "$12.35"),  # halves round away from zero
        ("1234.5", "$1,234.50"),
        ("1234567.891", "$1,234,567.89"),
        ("0.01", "$0.01"),
        ("0.015", "$0.02"),
        ("0.0099996", "$0.01"),  # rounds up into cents
        ("0.00999", "$0.00999"),
        ("0.00122324964", "$0.00122"),
        ("0.00031", "$0.00031"),
        ("0.000310000", "$0.00031"),
        ("0.0000012345", "$0.00000123"),
        ("0", "$0"),
        ("0E-10", "$0"),
        ("-0.5", "-$0.50"),
        ("-0.0012345", "-$0.00123"),
        ("3", "$3.00"),
    ],
)
def test_usd_reads_like_money(amount: str, shown: str) -> None:
    assert usd(Decimal(amount)) == shown


def test_no_amount_is_a_dash_never_zero() -> None:
    assert usd(None) == "—" and usd_exact(None) == "—"
    assert usd(None, none="-") == "-"


@pytest.mark.parametrize(
    ("amount", "exact"),
    [("0.0122324964", "$0.0122324964"), ("12.50", "$12.5"), ("-3", "-$3"), ("0E-10", "$0")],
)
def test_usd_exact_keeps_every_digit(amount: str, exact: str) -> None:
    assert usd_exact(Decimal(amount)) == exact


def test_hover_text_adds_the_exact_amount_only_when_rounded() -> None:
    assert usd_with_exact(Decimal("0.0122324964")) == "$0.01 (exactly $0.0122324964)"
    assert usd_with_exact(Decimal("12.3")) == "$12.30"
    assert usd_with_exact(Decimal("0.00031")) == "$0.00031"


def test_the_dashboard_filter_puts_the_exact_amount_in_the_title() -> None:
    html = str(usd_html(Decimal("0.0122324964")))
    assert html == '<span class="money" title="$0.0122324964">$0.01</span>'
    assert str(usd_html(None)) == "—"


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (6.579207999948267, "6.6 ms"),
        (0.4213, "0.42 ms"),
        (99.96, "100 ms"),
        (999.7, "1.00 s"),
        (0.999, "1.0 ms"),
        (123.4, "123 ms"),
        (1234.5, "1.23 s"),
        (61_000.0, "61.00 s"),
        (None, "—"),
    ],
)
def test_durations_are_rounded(ms: float | None, shown: str) -> None:
    assert duration_ms(ms) == shown


def test_usd_axes_use_a_dollar_prefix_and_no_si_suffix() -> None:
    # d3-format: "$" currency prefix, "," grouping, ".3~r" 3 significant digits as
    # plain decimals ("s" would give SI suffixes such as "5μ")
    assert USD_TICKFORMAT == "$,.3~r"
