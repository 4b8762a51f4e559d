"""``llmtally estimate`` on-demand against provisioned capacity (issue 17): the
monthly cost of each, a request's share of the hour, the break-even volume, the
units a volume needs, and the command's ``--provisioned`` options, ``--json``
and errors.

Throughput: Microsoft Learn, "Understanding costs associated with provisioned
throughput units (PTU)" (https://learn.microsoft.com/en-us/azure/ai-services/
openai/how-to/provisioned-throughput-onboarding, read 2026-12-07): gpt-4.1 3,000
input TPM per PTU, 1 output token counted as 4 input tokens, Global minimum 15 PTU
in steps of 5. The offers file now ships Azure's $/PTU-hour (tests/
test_provisioned_prices.py checks those); every USD per PTU-hour here is still
the caller's ``--unit-price``, a test input that overrides the shipped price, not
a claimed price. On-demand: the hand-checked OpenAI list price of gpt-4.1, $2.00 in
/ $8.00 out per 1M (https://openai.com/index/gpt-4-1/). Hours a month: 720.

Per request: 1,200 input and 150 output tokens, so on-demand 1200 x 2/1M + 150 x
8/1M = 0.0024 + 0.0012 = $0.0036, and a load of 1200 + 150 x 4 = 1,800 tokens of
capacity; a PTU serves 3000 x 60 = 180,000 a busy hour.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.catalog.provisioned import OfferSpec, ProvisionedError, capacity, load_offers
from llmtally.cli import app
from llmtally.estimate import estimate, parse_workload
from llmtally.estimate.provisioned import compare

LEARN = "https://learn.microsoft.com/en-us/azure/ai-services/openai/how-to/provisioned-throughput-onboarding"
# A made-up offer in the offers-file form, shaped like Bedrock provisioned throughput
# (1-month / 6-month terms, no published throughput); its prices are test inputs.
USER_OFFERS = """\
offers:
  - id: test-bedrock/gpt-4.1
    provider: bedrock
    deployment: provisioned throughput (test fixture)
    models: [gpt-4.1]
    unit: model unit
    terms: [1-month, 6-month]
    usd_per_unit_hour: {1-month: "20", 6-month: "10"}
    source: test fixture (not a price)
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def offers() -> dict[str, OfferSpec]:
    return load_offers()


def _workload(requests: int) -> str:
    return (
        "name: provisioned check\nprice_date: 2026-12-01\nmodels: [openai/gpt-4.1]\n"
        f"requests: {{per_month: {requests}}}\nrequest:\n  user_input: 1200\n  output: 150\n"
    )


# (id, requests a month, units, price, busy, expected JSON fields)
COMPARE = [
    # on-demand per request 1200 x 2/1M + 150 x 8/1M = 0.0024 + 0.0012 = 0.0036;
    # x 1,000,000 = 3,600 a month. 15 PTU at 1: 10,800 a month; per request 0.01.
    # capacity 3000x15x60x720 / 1800 = 1,080,000 requests (fits 1,000,000);
    # break-even 10,800 / 0.0036 = 3,000,000 requests = 3e6 x 1350 = 4,050,000,000 tokens;
    # units needed: 1e6 x 1800 / (3000x60x720 = 129,600,000) = 13.9 -> the minimum, 15.
    (
        "low-volume",
        1_000_000,
        15,
        "1",
        "1",
        {
            "on_demand_per_request": "0.0036",
            "on_demand_per_month": "3600",
            "provisioned_per_month": "10800",
            "provisioned_per_request": "0.01",
            "capacity_requests_per_month": "1080000",
            "fits": True,
            "units_needed": 15,
            "break_even_requests_per_month": "3000000",
            "break_even_tokens_per_month": "4050000000",
            # 3,000,000 > the 1,080,000 the 15 PTU carry: never reached; nor with more PTU,
            # as a request at full use costs 1 / (180,000 / 1,800 = 100 requests a
            # PTU-hour) = 0.01, above 0.0036 on demand
            "break_even_reachable": False,
            "pays_at_full_use": False,
            "break_even_units": None,
            "requests_per_unit_hour": "100",
            "cheaper": "on-demand",
        },
    ),
    # 5,000,000 requests: on-demand 18,000. 70 PTU at 0.25: hourly 17.5, month 12,600;
    # per request 0.25 x 1800 / 180,000 = 0.0025; capacity 3000x70x60x720 / 1800 = 5,040,000
    # (fits); break-even 12,600 / 0.0036 = 3,500,000 requests = 4,725,000,000 tokens;
    # units needed 5e6 x 1800 / 129.6e6 = 69.4 -> 15 + 11 steps of 5 = 70.
    (
        "high-volume",
        5_000_000,
        70,
        "0.25",
        "1",
        {
            "on_demand_per_month": "18000",
            "provisioned_per_month": "12600",
            "provisioned_per_request": "0.0025",
            "capacity_requests_per_month": "5040000",
            "fits": True,
            "units_needed": 70,
            "break_even_requests_per_month": "3500000",
            "break_even_tokens_per_month": "4725000000",
            # 3,500,000 <= 5,040,000: reached; 0.25 / 100 requests a PTU-hour = 0.0025 < 0.0036
            "break_even_reachable": True,
            "pays_at_full_use": True,
            "cheaper": "provisioned",
        },
    ),
    # the same 70 PTU half busy: capacity 5,040,000 x 0.5 = 2,520,000 < 5e6, so it does
    # not fit (on-demand); per request 0.25 x 1800 / 90,000 = 0.005; units needed
    # 5e6 x 1800 / 64.8e6 = 138.9 -> 15 + 25 x 5 = 140.
    (
        "half-busy",
        5_000_000,
        70,
        "0.25",
        "0.5",
        {
            "provisioned_per_request": "0.005",
            "capacity_requests_per_month": "2520000",
            "fits": False,
            "units_needed": 140,
            "cheaper": "on-demand",
        },
    ),
]


@pytest.mark.parametrize(
    ("requests", "units", "price", "busy", "expected"),
    [case[1:] for case in COMPARE],
    ids=[case[0] for case in COMPARE],
)
def test_on_demand_against_provisioned(
    catalog: Catalog,
    offers: dict[str, OfferSpec],
    requests: int,
    units: int,
    price: str,
    busy: str,
    expected: dict[str, object],
) -> None:
    est = estimate(parse_workload(_workload(requests)), catalog=catalog)
    cap = capacity(
        offers, "azure-global/gpt-4.1", "hourly", units, Decimal(busy), unit_price=Decimal(price)
    )
    [row] = compare(est, cap)
    got = row.as_json()
    assert {key: got[key] for key in expected} == expected


def test_the_offer_must_serve_an_estimated_model(
    catalog: Catalog, offers: dict[str, OfferSpec]
) -> None:
    est = estimate(parse_workload(_workload(10)), catalog=catalog)
    cap = capacity(
        offers, "azure-global/o1", "hourly", 15, unit_price=Decimal(1), output_weight=Decimal(4)
    )
    with pytest.raises(ProvisionedError, match=r"serves o1, o1-2024-12-17; none of the estimated"):
        compare(est, cap)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def workload_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(_workload(5_000_000), encoding="utf-8")
    return path


def test_cli_json_carries_the_comparison_exactly(run, workload_file: Path) -> None:
    done = run(
        "estimate",
        str(workload_file),
        "--json",
        "--provisioned",
        "azure-global/gpt-4.1",
        "--units",
        "70",
        "--unit-price",
        "0.25",
    )
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.stdout)["provisioned"]
    # the "high-volume" case above, worked by hand
    assert row == {
        "model": "openai/gpt-4.1",
        "offer": "azure-global/gpt-4.1",
        "provider": "azure",
        "deployment": "Global provisioned",
        "term": "hourly",
        "units": 70,
        "unit": "PTU",
        "usd_per_unit_hour": "0.25",
        "tokens_per_minute_per_unit": "3000",
        "output_weight": "4",
        "utilisation": "1",
        "hours_per_month": "720",
        "requests_per_month": "5000000",
        "input_tokens_per_request": "1200",
        "output_tokens_per_request": "150",
        "on_demand_per_request": "0.0036",
        "on_demand_per_month": "18000",
        "provisioned_per_hour": "17.5",
        "provisioned_per_month": "12600",
        "provisioned_per_request": "0.0025",
        "capacity_requests_per_month": "5040000",
        "fits": True,
        "units_needed": 70,
        "break_even_requests_per_month": "3500000",
        "break_even_tokens_per_month": "4725000000",
        "break_even_reachable": True,
        "pays_at_full_use": True,
        "break_even_units": None,
        "requests_per_unit_hour": "100",
        "cheaper": "provisioned",
        "source": LEARN,
    }


def test_cli_table_names_the_break_even(run, workload_file: Path) -> None:
    done = run(
        "estimate",
        str(workload_file),
        "--provisioned",
        "azure-global/gpt-4.1",
        "--units",
        "70",
        "--unit-price",
        "0.25",
        "--term",
        "yearly",
    )
    assert done.exit_code == 0, done.output
    assert "on-demand vs provisioned azure-global/gpt-4.1" in done.stdout
    assert "3,500,000" in done.stdout  # break-even requests a month
    assert "$12,600.00" in done.stdout


def test_cli_table_says_a_break_even_beyond_the_capacity_is_not_reached(
    run, tmp_path: Path
) -> None:
    path = tmp_path / "low.yaml"
    path.write_text(_workload(1_000_000), encoding="utf-8")
    done = run(
        "estimate",
        str(path),
        "--provisioned",
        "azure-global/gpt-4.1",
        "--units",
        "15",
        "--unit-price",
        "1",
    )
    assert done.exit_code == 0, done.output
    text = " ".join(done.stdout.split())
    # the "low-volume" case: break-even 10,800 / 0.0036 = 3,000,000 requests, beyond the
    # 3000 x 15 x 60 x 720 / 1800 = 1,080,000 the 15 PTU carry
    assert "not reached with 15 PTU (capacity 1,080,000)" in text
    assert "3,000,000" not in text
    # one PTU: $1 an hour for 180,000 / 1,800 = 100 requests: 1 / 100 = $0.01 a request
    assert (
        "openai/gpt-4.1: provisioned never breaks even, with any number of PTU: $0.01 a "
        "request at full use ($1.00 per PTU-hour / 100 requests per PTU-hour) is above "
        "$0.0036 on demand, and cost and capacity both grow with the units"
    ) in text


def test_cli_a_users_offers_file(run, workload_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(USER_OFFERS, "utf-8")
    done = run(
        "estimate",
        str(workload_file),
        "--json",
        "--offers",
        str(path),
        "--provisioned",
        "test-bedrock/gpt-4.1",
        "--term",
        "6-month",
        "--units",
        "1",
        "--tokens-per-minute",
        "10000",
        "--output-weight",
        "4",
    )
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.stdout)["provisioned"]
    # hourly 10 (the file's 6-month price); month 7,200; load 1800; 10 x 1800 / 600,000 = 0.03;
    # break-even 7,200 / 0.0036 = 2,000,000 requests
    assert (row["provisioned_per_month"], row["provisioned_per_request"]) == ("7200", "0.03")
    assert row["break_even_requests_per_month"] == "2000000"


# (id, extra arguments, message on stderr)
CLI_ERRORS = [
    (
        "unknown",
        ["--provisioned", "nope", "--units", "1"],
        "--provisioned: unknown provisioned offer 'nope'; known:",
    ),
    (
        "zero-units",
        ["--provisioned", "azure-global/gpt-4.1", "--units", "0", "--unit-price", "1"],
        "--provisioned: units must be a whole number from 1 to 1,000,000, got 0",
    ),
    (
        "no-units",
        ["--provisioned", "azure-global/gpt-4.1"],
        "--provisioned needs --units (how many units are held)",
    ),
    (
        "no-throughput",
        ["--provisioned", "bedrock-pt/meta.llama2-chat", "--units", "1", "--term", "1-month"],
        "bedrock-pt/meta.llama2-chat: the vendor publishes no throughput per model unit; "
        "give the tokens a minute one model unit serves with --tokens-per-minute",
    ),
    (
        "no-weight",
        ["--provisioned", "azure-global/gpt-4o", "--units", "15", "--unit-price", "1"],
        "give it with --output-weight",
    ),
    (
        "bad-number",
        ["--provisioned", "azure-global/gpt-4.1", "--units", "15", "--unit-price", "cheap"],
        "--unit-price: not a number: 'cheap'",
    ),
    (
        "wrong-model",
        [
            "--provisioned",
            "azure-global/gpt-4o-mini",
            "--units",
            "15",
            "--unit-price",
            "1",
            "--output-weight",
            "4",
        ],
        "serves gpt-4o-mini, gpt-4o-mini-2024-07-18; none of the estimated models (openai/gpt-4.1)",
    ),
    (
        "hours",
        [
            "--provisioned",
            "azure-global/gpt-4.1",
            "--units",
            "15",
            "--unit-price",
            "1",
            "--hours-per-month",
            "800",
        ],
        "hours a month must be above 0 and at most 744, got 800",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message"), [c[1:] for c in CLI_ERRORS], ids=[c[0] for c in CLI_ERRORS]
)
def test_cli_errors(run, workload_file: Path, extra: list[str], message: str) -> None:
    done = run("estimate", str(workload_file), *extra)
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())
    assert "Traceback" not in done.output


def test_cli_provisioned_is_not_for_the_ledger(run) -> None:
    done = run("estimate", "--from-ledger", "--models", "gpt-4.1", "--provisioned", "x")
    assert done.exit_code == 2
    assert "--provisioned is for workload files, not --from-ledger" in done.output
