"""Cloud resellers' provisioned capacity (issue 17): the shipped offers' published
facts, a call's share of the hour, the monthly cost at a term, clear errors, and
bare model names still resolving to the vendor's own list. The break-even against
on-demand and ``llmtally estimate --provisioned``: tests/test_estimate_provisioned.py.

Published facts come from Microsoft Learn, "Understanding costs associated with
provisioned throughput units (PTU)", table "How much throughput per PTU you get
for each model" (https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/
provisioned-throughput-onboarding, read 2026-12-07): gpt-4.1 3,000 input TPM per
PTU with 1 output token counted as 4 input tokens; gpt-4.1-mini 14,900; gpt-4o
2,500; gpt-4o-mini 37,000; o3-mini 2,500; o1 230; Global and Data Zone minimum 15
PTU in steps of 5, Regional gpt-4.1 and gpt-4o minimum 50 in steps of 50.

The offers file now ships official prices (tests/test_provisioned_prices.py checks
them and their arithmetic); every USD per unit-hour below is still a number the
caller gives (``unit_price`` / ``--unit-price``, which overrides the shipped one)
to exercise the arithmetic: a test input, never a claimed price.

Formulas (module docstrings): hourly = units x price; tokens per hour = TPM x
units x 60 x utilisation; load = input + output x weight; call = hourly x load /
tokens per hour; month = hourly x 720 h (selfhost.economics).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, CatalogFileError
from llmtally.catalog.provisioned import (
    Capacity,
    OfferSpec,
    ProvisionedError,
    capacity,
    load_offers,
)

LEARN = "https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/provisioned-throughput-onboarding"

# A made-up offer in the user's offers-file form, shaped like Bedrock's provisioned
# throughput (1-month / 6-month terms, no published throughput). Its prices are
# test inputs, not AWS's.
USER_OFFERS = """\
offers:
  - id: test-bedrock/gpt-4o-mini
    provider: bedrock
    deployment: provisioned throughput (test fixture)
    models: [gpt-4o-mini]
    unit: model unit
    terms: [1-month, 6-month]
    usd_per_unit_hour: {1-month: "20", 6-month: "10"}
    source: test fixture (not a price)
"""


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OfferSpec]:
    path = tmp_path_factory.mktemp("offers") / "offers.yaml"
    path.write_text(USER_OFFERS, encoding="utf-8")
    return load_offers(path)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --- the shipped offers carry the Learn table's figures ---------------------------
# (offer, minimum, increment, input TPM per PTU, output weight or None)
PUBLISHED = [
    ("azure-global/gpt-4.1", 15, 5, "3000", "4"),
    ("azure-datazone/gpt-4.1", 15, 5, "3000", "4"),
    ("azure-regional/gpt-4.1", 50, 50, "3000", "4"),
    ("azure-global/gpt-4.1-mini", 15, 5, "14900", None),
    ("azure-global/gpt-4o", 15, 5, "2500", None),
    ("azure-datazone/gpt-4o", 15, 5, "2500", None),
    ("azure-regional/gpt-4o", 50, 50, "2500", None),
    ("azure-global/gpt-4o-mini", 15, 5, "37000", None),
    ("azure-global/o3-mini", 15, 5, "2500", None),
    ("azure-global/o1", 15, 5, "230", None),
]


@pytest.mark.parametrize(("offer_id", "minimum", "step", "tpm", "weight"), PUBLISHED)
def test_shipped_offers_carry_the_published_table(
    offers: dict[str, OfferSpec],
    offer_id: str,
    minimum: int,
    step: int,
    tpm: str,
    weight: str | None,
) -> None:
    offer = offers[offer_id]
    assert (offer.minimum_units, offer.increment, offer.unit) == (minimum, step, "PTU")
    assert offer.throughput is not None
    assert offer.throughput.input_tokens_per_minute == Decimal(tpm)
    assert offer.throughput.output_weight == (None if weight is None else Decimal(weight))
    assert offer.source == LEARN  # its prices: tests/test_provisioned_prices.py


# --- a call's share of the hour and the monthly cost ---------------------------------
# (id, "offer term units price busy tpm weight", input, output, call, month).
# "-": the offer's own (price, TPM or weight). Prices are the caller's test inputs.
SHARE = [
    # gpt-4.1: load 1200 + 150x4 = 1800; hourly 15x1 = 15; 3000x15x60 = 2,700,000 tok/h;
    # 15 x 1800 / 2,700,000 = 0.01; month 15 x 720 = 10,800
    ("g41-full", "azure-global/gpt-4.1 hourly 15 1 1 - -", 1200, 150, "0.01", "10800"),
    # half busy: 2,700,000 x 0.5 = 1,350,000; 27,000 / 1,350,000 = 0.02
    ("g41-half", "azure-global/gpt-4.1 hourly 15 1 0.5 - -", 1200, 150, "0.02", "10800"),
    # 80% busy: 2,160,000; 27,000 / 2,160,000 = 0.0125
    ("g41-80", "azure-global/gpt-4.1 hourly 15 1 0.8 - -", 1200, 150, "0.0125", "10800"),
    # 20 PTU at 2: hourly 40; 3000x20x60 = 3,600,000; 40 x 3000 / 3,600,000 = 1/30
    # = 0.0333333333 (half-even, 10 places); month 40 x 720 = 28,800
    ("g41-third", "azure-global/gpt-4.1 hourly 20 2 1 - -", 3000, 0, "0.0333333333", "28800"),
    # data zone, output only: load 450x4 = 1800; hourly 22.5; 22.5 x 1800 / 2,700,000
    # = 0.015; month 22.5 x 720 = 16,200
    ("dz41-out", "azure-datazone/gpt-4.1 hourly 15 1.5 1 - -", 0, 450, "0.015", "16200"),
    # regional 50 PTU at 2: hourly 100; 3000x50x60 = 9,000,000; 100 x 1800 / 9e6 = 0.02;
    # month 100 x 720 = 72,000
    ("rg41-50", "azure-regional/gpt-4.1 hourly 50 2 1 - -", 1200, 150, "0.02", "72000"),
    # regional 100 PTU (50 + one step of 50): hourly 200; 18,000,000 tok/h; 0.02; 144,000
    ("rg41-100", "azure-regional/gpt-4.1 hourly 100 2 1 - -", 1200, 150, "0.02", "144000"),
    # gpt-4o with the caller's weight 3: load 1200 + 300 = 1500; 2500x15x60 = 2,250,000;
    # 15 x 1500 / 2,250,000 = 0.01
    ("g4o-w3", "azure-global/gpt-4o hourly 15 1 1 - 3", 1200, 100, "0.01", "10800"),
    # gpt-4o-mini, input only: 37,000x15x60 = 33,300,000; 15 x 2220 / 33,300,000 = 0.001
    ("g4omini", "azure-global/gpt-4o-mini hourly 15 1 1 - 4", 2220, 0, "0.001", "10800"),
    # o1: 230x15x60 = 207,000; 15 x 138 / 207,000 = 0.01
    ("o1", "azure-global/o1 hourly 15 1 1 - 4", 138, 0, "0.01", "10800"),
    # o3-mini: load 1100 + 100x4 = 1500; 2500x15x60 = 2,250,000; 22,500 / 2,250,000 = 0.01
    ("o3mini", "azure-global/o3-mini hourly 15 1 1 - 4", 1100, 100, "0.01", "10800"),
    # the caller's TPM 6000 for 3000: 6000x15x60 = 5,400,000; 27,000 / 5.4e6 = 0.005
    ("g41-tpm", "azure-global/gpt-4.1 hourly 15 1 1 6000 -", 1200, 150, "0.005", "10800"),
    # the caller's weight 2: load 1200 + 300 = 1500; 22,500 / 2,700,000 = 1/120
    # = 0.0083333333 (10 places)
    ("g41-w2", "azure-global/gpt-4.1 hourly 15 1 1 - 2", 1200, 150, "0.0083333333", "10800"),
    # yearly term at 0.5: hourly 7.5; 7.5 x 1800 / 2,700,000 = 0.005; month 7.5 x 720 = 5,400
    ("g41-year", "azure-global/gpt-4.1 yearly 15 0.5 1 - -", 1200, 150, "0.005", "5400"),
    # monthly term, 25 PTU at 0.75: hourly 18.75; 3000x25x60 = 4,500,000;
    # 18.75 x 1800 / 4.5e6 = 0.0075; month 18.75 x 720 = 13,500
    ("g41-month", "azure-global/gpt-4.1 monthly 25 0.75 1 - -", 1200, 150, "0.0075", "13500"),
    # the user's offer, 1 unit at its own 1-month price 20, TPM 10,000, weight 5: load
    # 1000 + 1000 = 2000; 10,000x60 = 600,000; 20 x 2000 / 600,000 = 1/15 = 0.0666666667;
    # month 20 x 720 = 14,400
    (
        "user-1m",
        "test-bedrock/gpt-4o-mini 1-month 1 - 1 10000 5",
        1000,
        200,
        "0.0666666667",
        "14400",
    ),
    # 6-month at its own 10, 2 units: hourly 20; 1,200,000 tok/h; 40,000 / 1.2e6 = 1/30
    # = 0.0333333333; month 20 x 720 = 14,400
    (
        "user-6m",
        "test-bedrock/gpt-4o-mini 6-month 2 - 1 10000 5",
        1000,
        200,
        "0.0333333333",
        "14400",
    ),
    # 6-month, 3 units, half busy: hourly 30; 10,000x3x60x0.5 = 900,000; 30 x 2000 / 900,000
    # = 1/15 = 0.0666666667; month 30 x 720 = 21,600
    (
        "user-6m-half",
        "test-bedrock/gpt-4o-mini 6-month 3 - 0.5 10000 5",
        1000,
        200,
        "0.0666666667",
        "21600",
    ),
]


def _number(text: str) -> Decimal | None:
    return None if text == "-" else Decimal(text)


def _capacity(offers: dict[str, OfferSpec], ask: str) -> Capacity:
    offer, term, units, price, busy, tpm, weight = ask.split()
    return capacity(
        offers,
        offer,
        term,
        int(units),
        Decimal(busy),
        unit_price=_number(price),
        tokens_per_minute=_number(tpm),
        output_weight=_number(weight),
    )


@pytest.mark.parametrize(
    ("ask", "inp", "out", "call", "month"), [c[1:] for c in SHARE], ids=[c[0] for c in SHARE]
)
def test_a_calls_share_of_the_hour_and_the_month(
    offers: dict[str, OfferSpec], ask: str, inp: int, out: int, call: str, month: str
) -> None:
    cap = _capacity(offers, ask)
    assert cap.call_cost(Decimal(inp), Decimal(out)) == Decimal(call)
    assert cap.monthly_cost() == Decimal(month)


def test_hours_a_month_other_than_720(offers: dict[str, OfferSpec]) -> None:
    cap = _capacity(offers, "azure-global/gpt-4.1 hourly 15 1 1 - -")
    assert cap.monthly_cost(Decimal(730)) == Decimal(10950)  # 15 x 1 x 730


# --- errors ----------------------------------------------------------------------------
# (id, "offer term units price busy tpm weight", message)
ERRORS = [
    (
        "unknown",
        "azure-global/gpt-9 hourly 15 1 1 - -",
        "unknown provisioned offer 'azure-global/gpt-9'; known: azure-datazone/gpt-4.1",
    ),
    (
        "zero-units",
        "azure-global/gpt-4.1 hourly 0 1 1 - -",
        "units must be a whole number from 1 to 1,000,000, got 0",
    ),
    (
        "below-minimum",
        "azure-global/gpt-4.1 hourly 10 1 1 - -",
        "azure-global/gpt-4.1 needs at least 15 PTU, got 10",
    ),
    (
        "off-step",
        "azure-global/gpt-4.1 hourly 17 1 1 - -",
        "azure-global/gpt-4.1 is bought as 15 PTU and up in steps of 5; 17 is not one of those",
    ),
    (
        "regional-step",
        "azure-regional/gpt-4o hourly 75 1 1 - 4",
        "azure-regional/gpt-4o is bought as 50 PTU and up in steps of 50; 75 is not one of those",
    ),
    (
        "bad-term",
        "azure-global/gpt-4.1 6-month 15 1 1 - -",
        "azure-global/gpt-4.1 is not sold on the term '6-month'; "
        "its terms: hourly, monthly, yearly",
    ),
    (
        "no-throughput",
        "test-bedrock/gpt-4o-mini 1-month 1 - 1 - 5",
        "test-bedrock/gpt-4o-mini: the vendor publishes no throughput per model unit; give the "
        "tokens a minute one model unit serves with --tokens-per-minute",
    ),
    (
        "no-weight",
        "azure-global/gpt-4o hourly 15 1 1 - -",
        "azure-global/gpt-4o: no published weight of an output token against this capacity; "
        "give it with --output-weight",
    ),
    (
        "busy-zero",
        "azure-global/gpt-4.1 hourly 15 1 0 - -",
        "utilisation is a share above 0 and at most 1, got 0",
    ),
    (
        "busy-over",
        "azure-global/gpt-4.1 hourly 15 1 1.5 - -",
        "utilisation is a share above 0 and at most 1, got 1.5",
    ),
    (
        "free",
        "azure-global/gpt-4.1 hourly 15 0 1 - -",
        "the price per PTU-hour must be above 0, got 0",
    ),
]


@pytest.mark.parametrize(("ask", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_bad_asks_are_clear_errors(offers: dict[str, OfferSpec], ask: str, message: str) -> None:
    with pytest.raises(ProvisionedError) as info:
        _capacity(offers, ask)
    assert message in str(info.value)


def test_an_offers_file_with_a_typo_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text(USER_OFFERS.replace("    unit: model unit", "    unitt: model unit"), "utf-8")
    with pytest.raises(CatalogFileError) as info:
        load_offers(path)
    assert f"{path}:6: offers.0.unitt: Extra inputs are not permitted" in str(info.value)


def test_a_price_for_a_term_not_sold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text(USER_OFFERS.replace('6-month: "10"', 'yearly: "10"'), "utf-8")
    with pytest.raises(CatalogFileError, match="usd_per_unit_hour names terms not in 'terms'"):
        load_offers(path)


def test_a_users_offer_replaces_a_shipped_one_of_the_same_id(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text(USER_OFFERS.replace("test-bedrock/gpt-4o-mini", "azure-global/o1"), "utf-8")
    offer = load_offers(path)["azure-global/o1"]
    assert (offer.provider, offer.throughput) == ("bedrock", None)


# --- names: a bare model name is still the vendor's own --------------------------------------


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-4.1", "openai"),
        ("claude-3-5-haiku", "anthropic"),
        ("gemini-2.0-flash", "google"),
    ],
)
def test_bare_names_resolve_to_the_vendor(catalog: Catalog, name: str, provider: str) -> None:
    assert catalog.lookup(None, name).provider == provider
