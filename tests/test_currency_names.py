"""Currency names people write: ``rmb`` / ``RMB`` is CNY (the yuan's everyday name),
codes in any case, in ``--currency``, the setting, the dashboard's ``?currency=``
and a price file's ``currency``; an unknown one is an error that names where it
came from (a new user's trial: ``LLMTALLY_CURRENCY=RMB`` was blamed on
``--currency``, and a price file's ``currency: cny`` was refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import CatalogFileError
from llmtally.catalog.loader import parse_provider_file
from llmtally.cli import app
from llmtally.config import display_currency
from llmtally.web.http import HTTPError
from llmtally.web.money_view import page_currency

FILE = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
currency: {currency}
models:
  - id: m1
    prices:
      - {{source: "https://acme.example/pricing", input: "1", output: "2"}}
"""


@pytest.mark.parametrize(("given", "code"), [("rmb", "CNY"), (" RMB ", "CNY"), ("cny", "CNY"),
                                             ("eur", "EUR")])  # fmt: skip
def test_the_option_setting_and_page_take_names_and_any_case(given: str, code: str) -> None:
    assert display_currency(given, env={}) == code
    assert display_currency(None, env={"LLMTALLY_CURRENCY": given}) == code
    assert page_currency({"currency": given}, None) == (code, {})


def test_an_unknown_setting_is_named_as_the_setting(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"LLMTALLY_CURRENCY": "XYZ", "LLMTALLY_HOME": str(tmp_path)}
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    result = runner.invoke(app, ["calls", "--database", database], env=env)
    assert result.exit_code == 2
    assert "the currency setting (LLMTALLY_CURRENCY): unknown currency 'XYZ'" in result.output
    result = runner.invoke(app, ["calls", "--database", database, "--currency", "XYZ"], env=env)
    assert result.exit_code == 2 and "--currency: unknown currency 'XYZ'" in result.output
    with pytest.raises(HTTPError) as caught:
        page_currency({"currency": "XYZ"}, None)
    assert caught.value.status == 400


@pytest.mark.parametrize(("written", "code"), [("cny", "CNY"), ("RMB", "CNY"), ("usd", "USD")])
def test_a_price_file_takes_names_and_any_case(tmp_path: Path, written: str, code: str) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(FILE.format(currency=written))
    assert parse_provider_file(path.read_text(), str(path)).currency == code


def test_a_price_file_with_an_unknown_currency_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(FILE.format(currency="xyz"))
    with pytest.raises(CatalogFileError) as caught:
        parse_provider_file(path.read_text(), str(path))
    assert "currency: 'XYZ' is not one of CNY, EUR, GBP, JPY, USD" in str(caught.value)
