"""Price files: a typo, a bad value or bad YAML is an error that names file, line and field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, CatalogFileError, NoPriceError
from llmtally.catalog.loader import parse_provider_file, read_provider_file

GOOD = """\
provider: acme
name: ACME
pricing_url: https://acme.example/pricing
models:
  - id: acme-1
    prices:
      - effective: 2025-01-01
        source: https://acme.example/pricing
        input: "1.00"
        output: "2.00"
"""


def test_a_good_file_parses_to_decimals() -> None:
    pf = parse_provider_file(GOOD, "acme.yaml")
    price = pf.models[0].prices[0]
    assert price.input == Decimal("1.00")
    assert price.effective == dt.date(2025, 1, 1)


def test_a_typod_field_names_the_line_and_the_field() -> None:
    text = GOOD.replace('output: "2.00"', 'ouptut: "2.00"')
    with pytest.raises(CatalogFileError) as info:
        parse_provider_file(text, "acme.yaml")
    message = str(info.value)
    assert "acme.yaml:10: models.0.prices.0.ouptut: Extra inputs are not permitted" in message


def test_a_negative_price_names_its_line() -> None:
    text = GOOD.replace('input: "1.00"', 'input: "-1.00"')
    with pytest.raises(CatalogFileError) as info:
        parse_provider_file(text, "acme.yaml")
    assert (
        "acme.yaml:9: models.0.prices.0.input: Input should be greater than or equal to 0"
        in str(info.value)
    )


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(CatalogFileError, match=r"acme.yaml:3: not valid YAML"):
        parse_provider_file("provider: acme\nmodels:\n\t- id: x\n", "acme.yaml")


def test_a_missing_source_is_refused() -> None:
    text = GOOD.replace("        source: https://acme.example/pricing\n", "")
    with pytest.raises(CatalogFileError, match=r"models.0.prices.0.source: Field required"):
        parse_provider_file(text, "acme.yaml")


def test_prices_out_of_date_order_are_refused() -> None:
    text = GOOD + (
        "      - effective: 2024-01-01\n"
        "        source: https://acme.example/pricing\n"
        '        input: "3.00"\n'
    )
    with pytest.raises(CatalogFileError, match="prices must be in order of 'effective'"):
        parse_provider_file(text, "acme.yaml")


def test_a_tier_needs_exactly_one_form() -> None:
    text = GOOD + '        batch: {discount: "0.5", input: "0.5"}\n'
    with pytest.raises(CatalogFileError, match="takes either 'discount' or its own rates"):
        parse_provider_file(text, "acme.yaml")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"provider: \xff\xfe\n")
    with pytest.raises(CatalogFileError, match="not UTF-8"):
        read_provider_file(bad)


def test_the_builtin_catalog_loads_and_every_price_has_a_source() -> None:
    catalog = Catalog.load()
    refs = list(catalog.refs())
    assert refs
    for ref in refs:
        for spec in ref.spec.prices:
            assert spec.source.startswith("https://"), (ref.provider, ref.spec.id)


def test_a_broken_builtin_file_stops_the_load_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(GOOD.replace("name: ACME", "nmae: ACME"))
    with pytest.raises(CatalogFileError, match=r"acme.yaml:2: nmae: Extra inputs"):
        Catalog.load(builtin=tmp_path)


def test_price_history_picks_the_entry_in_force(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        GOOD + "      - effective: 2025-06-01\n"
        "        source: https://acme.example/pricing\n"
        '        input: "0.50"\n'
        '        output: "1.00"\n'
    )
    catalog = Catalog.load(builtin=tmp_path)
    may = dt.datetime(2025, 5, 31, 23, 59, tzinfo=dt.UTC)
    june = dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)
    assert catalog.price_at("acme", "acme-1", may).rates.input == Decimal("1.00")
    assert catalog.price_at("acme", "acme-1", june).rates.input == Decimal("0.50")
    with pytest.raises(NoPriceError, match="acme/acme-1 had no price on 2024-12-31"):
        catalog.price_at("acme", "acme-1", dt.datetime(2024, 12, 31, tzinfo=dt.UTC))


def test_every_claude_chat_model_offers_the_published_batch_price() -> None:
    # Anthropic's Message Batches API is 50% of standard for every Claude model.
    catalog = Catalog.load()
    missing = [
        ref.spec.id
        for ref in catalog.refs()
        if ref.provider == "anthropic"
        and ref.spec.kind in ("chat", "reasoning")
        and any(p.batch is None for p in ref.spec.prices)
    ]
    assert missing == []


def test_a_json_price_file_reports_lines_too() -> None:
    text = (
        '{\n "provider": "acme",\n "name": "ACME",\n "pricing_url": "https://acme.example",\n'
        ' "models": [\n  {"id": "a", "prices": [{"source": "https://a.example", "inptu": "1"}]}\n'
        " ]\n}\n"
    )
    with pytest.raises(CatalogFileError, match=r"acme.json:6: models.0.prices.0.inptu: Extra"):
        parse_provider_file(text, "acme.json")
    with pytest.raises(CatalogFileError, match=r"acme.json:2: not valid JSON at column 21"):
        parse_provider_file('{\n "provider": "acme",,\n}', "acme.json")
