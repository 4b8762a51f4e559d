"""Unit prices (per 1M tokens, per hour) as people read them: cents at least,
up to four significant digits, every digit in the hover title on the Models
page; and counts with the right noun ("1 model", "2 models"). Expected strings
are written out by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from browser_support import dashboard, fetch
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.money import usd_rate


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        ("15", "$15.00"),
        ("0.3", "$0.30"),
        ("0.075", "$0.075"),  # a list price keeps its digits
        ("4.375", "$4.375"),
        ("0.04666666666666666666666666667", "$0.04667"),  # $0.126/h over 750 tok/s
        ("4.3981481481481481", "$4.398"),
        ("14.692", "$14.69"),
        ("12345.678", "$12,345.68"),  # cents at least, never fewer
        ("0.000125", "$0.000125"),
        ("0.99995", "$1.00"),  # halves round away from zero
        ("0", "$0"),
        ("-0.5", "-$0.50"),
    ],
)
def test_a_rate_reads_as_a_price_list_does(rate: str, shown: str) -> None:
    assert usd_rate(Decimal(rate)) == shown


def test_no_rate_is_a_dash() -> None:
    assert usd_rate(None) == "—" and usd_rate(None, "-") == "-"


def test_the_models_page_shows_a_self_hosted_rate_short_with_every_digit_on_hover(
    tmp_path: Path,
) -> None:
    # local/llama-3.1-70b-instruct: $38/h over 24,000 prompt and 2,400 output tok/s
    # = $0.439814814... and $4.39814814... per 1M tokens, kept to 16 places
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        web = dashboard(store)
        page = fetch(web, "/models?q=local/llama-3.1-70b")
        web.close()
    assert page.status_code == 200
    assert '<span class="money" title="$0.4398148148148148">$0.4398</span>' in page.text
    assert '<span class="money" title="$4.3981481481481481">$4.398</span>' in page.text
    assert '<span id="model-count">1</span> model matching' in page.text
    assert "0.43981481481481481481" not in page.text


def test_one_key_is_one_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--name", "only", "--json"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0].strip().startswith("1 gateway key;")
    assert json.loads(made.stdout)["id"] in listed.stdout


def test_one_sequence_is_one_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(
        app, ["selfhost", "--model", "llama-3.1-8b", "--concurrency", "1", "--compare", ""]
    )
    assert result.exit_code == 0, result.output
    assert "1 sequence x 8,192 tokens" in result.stdout
