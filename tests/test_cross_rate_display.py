"""A rate in text for reading has 6 significant digits (new-user trial: a cross rate
printed all 28 of its digits, ``€ at 0.9522583043466716231645468787 EUR per USD``);
``--json``'s ``rate`` and the dashboard's hover title keep every digit.

The rates are made up for the arithmetic (not real rates): on 2026-12-01
1 EUR = 1.05 USD and 1 EUR = 7.5 CNY, so 1 USD = 7.5 / 1.05 = 750 / 105 = 50 / 7
= 7.142857142857.. CNY, a cross rate that never ends; 6 significant digits:
7.14285|71.. rounds up to 7.14286.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts_support import paid
from browser_support import fetch
from currency_support import use_rates
from llmtally.analytics.shown import Shown, rate_text
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.currency.rates import Rate, RateTable
from llmtally.ledger import open_store
from llmtally.web import Dashboard

DAY = dt.date(2026, 12, 1)
CROSS = RateTable(
    [
        Rate(DAY, "EUR", "USD", Decimal("1.05"), "leg a"),
        Rate(DAY, "EUR", "CNY", Decimal("7.5"), "leg b"),
    ]
)


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        ("0.9522583043466716231645468787", "0.952258"),  # the trial's: 7th digit 3, down
        ("7.1726", "7.1726"),  # 5 digits: all kept
        ("7.0", "7"),  # trailing zeros dropped
        ("150", "150"),
        ("16234.5678", "16234.6"),  # 6 digits: 16234.5|678 -> 16234.6
        ("1234567.89", "1234568"),  # whole digits are never cut: 1234567.8|9 -> 1234568
        ("0.0000123456789", "0.0000123457"),  # 123456|789 -> 123457, no exponent
    ],
)
def test_rate_text_keeps_six_significant_digits(rate: str, shown: str) -> None:
    assert rate_text(Decimal(rate)) == shown


def test_a_cross_rate_note_is_short_and_its_title_exact() -> None:
    shown = Shown("CNY", CROSS)
    used = shown.rate_on(DAY)
    assert str(used.rate).startswith("7.142857142857142857")  # 50 / 7, to many places
    assert shown.notes() == ["¥ at 7.14286 CNY per USD (2026-12-01, leg a + leg b)"]
    [(note, exact)] = shown.rate_lines()
    assert note == shown.notes()[0]
    assert exact == f"exactly {used.rate} CNY per USD"
    assert shown.rates_json()[0]["rate"] == str(used.rate)  # JSON: every digit


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    use_rates(
        tmp_path,
        "rates:\n"
        '  - {date: 2026-12-01, base: EUR, quote: USD, rate: "1.05", source: leg a}\n'
        '  - {date: 2026-12-01, base: EUR, quote: CNY, rate: "7.5", source: leg b}\n',
        monkeypatch,
    )
    monkeypatch.delenv("LLMTALLY_CURRENCY", raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(url) as store:
        store.insert_many([paid("0.70", dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC))])
    return url


def test_the_report_footer_shows_the_cross_rate_to_six_digits(ledger: str) -> None:
    args = ["report", "--since", "2026-12-01", "--until", "2026-12-02", "--database", ledger]
    done = CliRunner().invoke(app, [*args, "--currency", "CNY"])
    assert done.exit_code == 0, done.output
    # 0.70 USD x 50 / 7 = 5.00 CNY
    assert "¥5.00" in done.output
    text = " ".join(done.output.split())
    assert "¥ at 7.14286 CNY per USD (2026-12-01, leg a + leg b)" in text
    assert "7.142857" not in text
    done = CliRunner().invoke(app, [*args, "--currency", "CNY", "--format", "json"])
    assert done.exit_code == 0, done.output
    [rate] = json.loads(done.output)["rates"]
    assert rate["rate"].startswith("7.142857142857142857")  # every digit stays in JSON


def test_the_dashboard_footer_shows_six_digits_and_every_digit_on_hover(ledger: str) -> None:
    now = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)  # a whole day after the call
    with open_store(ledger) as store:
        web = Dashboard(store, Catalog([]), clock=lambda: now, currency="CNY")
        page = fetch(web, "/").text
        web.close()
    found = re.search(r'<span class="rate" title="([^"]*)">([^<]*)</span>', page)
    assert found is not None, page
    title, note = found.groups()
    assert note == "¥ at 7.14286 CNY per USD (2026-12-01, leg a + leg b)"
    assert title.startswith("exactly 7.142857142857142857") and title.endswith(" CNY per USD")
    # the month-end projection converts at today's rate (2026-12-01's, the latest)
    assert "at today&#39;s rate (7.14286 CNY per USD, 2026-12-01)" in page
    # the long digits are only in the title
    assert page.count("7.142857") == page.count('title="exactly 7.142857')
