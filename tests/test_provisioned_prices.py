"""Shipped provisioned-capacity PRICES (issue 17): Azure PTU hourly and reservation
prices, Bedrock's Reserved tier (input and output TPM bought apart) and model
units, Vertex GSUs for Claude; the cost of N units on each term, a call's share of
the hour, and the break-even volume against on-demand. ``llmtally estimate
--provisioned`` with the shipped price (no ``--unit-price``):
tests/test_provisioned_prices_cli.py.

Sources (see the header of catalog/data/provisioned/offers.yaml, read 2026-12-07):
- Azure Retail Prices API (https://prices.azure.com/api/retail/prices), meters
  "Provisioned Managed Global/Data Zone/Regional Unit": hourly $1.00 / $1.10 / $2.00
  per PTU-hour; reservations $260 (1 month) and $2,652 (1 year) Global, $286 and
  $2,916 Data Zone and Regional; quoted by sedai77/tokenbill-llm-agent-cost-profiler
  (gap-commercial-commitment-levers.verify.md) and, Global only, by
  mburakunuvar/paygo-vs-ptu-on-foundry (03-status_summary.md). The yearly
  reservation is stored per month: 2,652 / 12 = 221, 2,916 / 12 = 243.
  Throughput: Microsoft Learn's PTU table (gpt-4.1 3,000 input TPM per PTU, output
  weight 4; gpt-4o 2,500).
- AWS Price List, AmazonBedrockFoundationModels us-east-1 of 2026-09-22 (Reserved,
  global, per hour per 1K TPM): Sonnet 4.5/4.6 in 0.18 / 0.162, out 0.90 / 0.81;
  Opus 4.5/4.6 in 0.30 / 0.27, out 1.50 / 1.35; Haiku 4.5 in 0.06 / 0.054, out
  0.30 / 0.27 (1 month / 3 months); minimums 100,000 input and 10,000 output TPM;
  Llama 2 model unit $21.18 (1 month) / $13.08 (6 months) per hour
  (https://aws.amazon.com/bedrock/pricing/); quoted by sedai77/... only.
- Vertex AI pricing page (https://cloud.google.com/vertex-ai/generative-ai/pricing),
  global GSU-hour: 1 month $3.698630137, 3 months $3.287671233, 1 year $2.739726027;
  Claude per GSU: Opus "5 / 4.x" (read for 4.5 / 4.6) 210 tokens/s, Sonnet 4.6 350,
  Haiku 4.5 1,050; output burndown 5.
- On-demand: OpenAI gpt-4.1 $2 / $8 per 1M (https://openai.com/index/gpt-4-1/);
  Anthropic Claude Haiku 4.5 $1 / $5 (https://www.anthropic.com/news/claude-haiku-4-5).

Hours a month: 720 unless a case says otherwise. A call here is 1,200 input and 150
output tokens unless a case says otherwise.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog import Catalog, CatalogFileError
from llmtally.catalog.provisioned import OfferSpec, ProvisionedError, capacity, load_offers
from llmtally.estimate import estimate, parse_workload
from llmtally.estimate.provisioned import compare

VERTEX_PRICING = "https://cloud.google.com/vertex-ai/generative-ai/pricing"


@pytest.fixture(scope="module")
def offers() -> dict[str, OfferSpec]:
    return load_offers()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --- the shipped figures ---------------------------------------------------------------------
# (offer, USD per unit-hour by term, USD per unit-month by term, output side per unit-hour)
SHIPPED = [
    ("azure-global/gpt-4.1", {"hourly": "1.00"}, {"monthly": "260", "yearly": "221"}, None),
    ("azure-global/o1", {"hourly": "1.00"}, {"monthly": "260", "yearly": "221"}, None),
    ("azure-datazone/gpt-4o", {"hourly": "1.10"}, {"monthly": "286", "yearly": "243"}, None),
    ("azure-regional/gpt-4.1", {"hourly": "2.00"}, {"monthly": "286", "yearly": "243"}, None),
    (
        "bedrock-reserved/claude-sonnet-4-5",
        {"1-month": "0.18", "3-month": "0.162"},
        {},
        {"1-month": "0.90", "3-month": "0.81"},
    ),
    (
        "bedrock-reserved/claude-opus-4-5",
        {"1-month": "0.30", "3-month": "0.27"},
        {},
        {"1-month": "1.50", "3-month": "1.35"},
    ),
    (
        "bedrock-reserved/claude-haiku-4-5",
        {"1-month": "0.06", "3-month": "0.054"},
        {},
        {"1-month": "0.30", "3-month": "0.27"},
    ),
    ("bedrock-pt/meta.llama2-chat", {"1-month": "21.18", "6-month": "13.08"}, {}, None),
    (
        "vertex-global/claude-haiku-4-5",
        {"1-month": "3.698630137", "3-month": "3.287671233", "1-year": "2.739726027"},
        {},
        None,
    ),
]


@pytest.mark.parametrize(("offer_id", "hourly", "monthly", "output"), SHIPPED)
def test_shipped_offers_carry_the_quoted_prices(
    offers: dict[str, OfferSpec],
    offer_id: str,
    hourly: dict[str, str],
    monthly: dict[str, str],
    output: dict[str, str] | None,
) -> None:
    offer = offers[offer_id]
    assert offer.usd_per_unit_hour == {k: Decimal(v) for k, v in hourly.items()}
    assert offer.usd_per_unit_month == {k: Decimal(v) for k, v in monthly.items()}
    side = offer.output_capacity
    if output is None:
        assert side is None
    else:
        assert side is not None
        assert side.usd_per_unit_hour == {k: Decimal(v) for k, v in output.items()}
        # 10,000 output TPM in units of 1K; 100,000 input TPM in units of 1K
        assert (side.unit, side.tokens_per_minute, side.minimum_units) == (
            "1K output TPM",
            Decimal(1000),
            10,
        )
        assert (offer.unit, offer.minimum_units) == ("1K input TPM", 100)


def test_vertex_claude_throughput_per_gsu(offers: dict[str, OfferSpec]) -> None:
    # tokens/s per GSU x 60: Opus 4.5 210 x 60 = 12,600; Sonnet 4.6 350 x 60 = 21,000;
    # Haiku 4.5 1,050 x 60 = 63,000; output burndown 5; minimums 35, 25, 8
    got = {
        i: (o.throughput.input_tokens_per_minute, o.throughput.output_weight, o.minimum_units)
        for i, o in offers.items()
        if i.startswith("vertex-global/") and o.throughput is not None
    }
    assert got == {
        "vertex-global/claude-opus-4-5": (Decimal(12600), Decimal(5), 35),
        "vertex-global/claude-sonnet-4-6": (Decimal(21000), Decimal(5), 25),
        "vertex-global/claude-haiku-4-5": (Decimal(63000), Decimal(5), 8),
    }
    assert all(offers[i].source == VERTEX_PRICING for i in got)
    assert "1-week" not in offers["vertex-global/claude-opus-4-5"].terms  # Google models only


# --- N units on a term: the hour, the month, a call's share ----------------------------------
# (id, "offer term units output-units tpm weight", input, output, per hour, per month, call)
# "-": the offer's own. Every price is the shipped one.
COSTS = [
    # Azure Global hourly, 15 PTU: 15 x 1.00 = 15 an hour; 15 x 720 = 10,800 a month;
    # load 1200 + 150 x 4 = 1,800; 3000 x 15 x 60 = 2,700,000 a busy hour;
    # 15 x 1,800 / 2,700,000 = 27,000 / 2,700,000 = 0.01
    ("az-g-hour", "azure-global/gpt-4.1 hourly 15 - - -", 1200, 150, "15", "10800", "0.01"),
    # Azure Global 1-month reservation, 15 PTU: 15 x 260 = 3,900 a month whatever the
    # hours; an hour 3,900 / 720 = 5.41666.. = 5.4166666667; a call its share of the
    # month: 3,900 x 1,800 / (2,700,000 x 720 = 1,944,000,000) = 7,020,000 / 1,944,000,000
    # = 0.00361111.. = 0.0036111111
    (
        "az-g-month",
        "azure-global/gpt-4.1 monthly 15 - - -",
        1200,
        150,
        "5.4166666667",
        "3900",
        "0.0036111111",
    ),
    # Azure Global 1-year reservation, 15 PTU: 2,652 / 12 = 221 a PTU-month; 15 x 221 =
    # 3,315 a month (x 12 = 39,780 = 15 x 2,652); an hour 3,315 / 720 = 4.6041666667;
    # a call 3,315 x 1,800 / 1,944,000,000 = 5,967,000 / 1,944,000,000 = 0.0030694444
    (
        "az-g-year",
        "azure-global/gpt-4.1 yearly 15 - - -",
        1200,
        150,
        "4.6041666667",
        "3315",
        "0.0030694444",
    ),
    # Data Zone hourly, 15 PTU: 15 x 1.10 = 16.5; x 720 = 11,880; 16.5 x 1,800 /
    # 2,700,000 = 29,700 / 2,700,000 = 0.011
    ("az-dz-hour", "azure-datazone/gpt-4.1 hourly 15 - - -", 1200, 150, "16.5", "11880", "0.011"),
    # Data Zone 1-month, 20 PTU (15 + one step of 5): 20 x 286 = 5,720 a month; an hour
    # 5,720 / 720 = 7.94444.. = 7.9444444444; 3000 x 20 x 60 = 3,600,000 a busy hour;
    # 5,720 x 1,800 / (3,600,000 x 720 = 2,592,000,000) = 10,296,000 / 2,592,000,000
    # = 0.00397222.. = 0.0039722222
    (
        "az-dz-month",
        "azure-datazone/gpt-4.1 monthly 20 - - -",
        1200,
        150,
        "7.9444444444",
        "5720",
        "0.0039722222",
    ),
    # Regional hourly, 50 PTU: 50 x 2.00 = 100; x 720 = 72,000; 3000 x 50 x 60 =
    # 9,000,000; 100 x 1,800 / 9,000,000 = 0.02
    ("az-rg-hour", "azure-regional/gpt-4.1 hourly 50 - - -", 1200, 150, "100", "72000", "0.02"),
    # Regional gpt-4o 1-year, 50 PTU, input only (gpt-4o has no published output
    # weight; the caller's 4 is unused at 0 output): 2,916 / 12 = 243; 50 x 243 =
    # 12,150 a month; an hour 12,150 / 720 = 16.875; 2500 x 50 x 60 = 7,500,000;
    # 12,150 x 2,500 / (7,500,000 x 720 = 5,400,000,000) = 30,375,000 / 5.4e9 = 0.005625
    ("az-rg-year", "azure-regional/gpt-4o yearly 50 - - 4", 2500, 0, "16.875", "12150", "0.005625"),
    # Bedrock Reserved Sonnet 4.5, 1 month, 100 x 1K input TPM + 10 x 1K output TPM:
    # 100 x 0.18 + 10 x 0.90 = 18 + 9 = 27 an hour; x 720 = 19,440; input side
    # 1000 x 100 x 60 = 6,000,000 an hour, output side 1000 x 10 x 60 = 600,000;
    # 18 x 1,200 / 6,000,000 + 9 x 150 / 600,000 = 0.0036 + 0.00225 = 0.00585
    # (= on-demand 1200 x 3/1M + 150 x 15/1M: parity at full use, as the source says)
    (
        "br-sonnet-1m",
        "bedrock-reserved/claude-sonnet-4-5 1-month 100 10 - -",
        1200,
        150,
        "27",
        "19440",
        "0.00585",
    ),
    # Sonnet 4.5, 3 months, 200 in + 20 out units: 200 x 0.162 + 20 x 0.81 = 32.4 +
    # 16.2 = 48.6; x 720 = 34,992; 32.4 x 1,200 / 12,000,000 = 0.00324; 16.2 x 150 /
    # 1,200,000 = 0.002025; 0.00324 + 0.002025 = 0.005265 (90% of 0.00585)
    (
        "br-sonnet-3m",
        "bedrock-reserved/claude-sonnet-4-5 3-month 200 20 - -",
        1200,
        150,
        "48.6",
        "34992",
        "0.005265",
    ),
    # Opus 4.5, 1 month, 100 + 10: 100 x 0.30 + 10 x 1.50 = 30 + 15 = 45; x 720 =
    # 32,400; 30 x 1,200 / 6,000,000 = 0.006; 15 x 150 / 600,000 = 0.00375; 0.00975
    (
        "br-opus-1m",
        "bedrock-reserved/claude-opus-4-5 1-month 100 10 - -",
        1200,
        150,
        "45",
        "32400",
        "0.00975",
    ),
    # Haiku 4.5, 3 months, 150 + 12 units: 150 x 0.054 + 12 x 0.27 = 8.1 + 3.24 = 11.34;
    # x 720 = 8,164.8; input 1000 x 150 x 60 = 9,000,000, output 1000 x 12 x 60 = 720,000;
    # 8.1 x 1,200 / 9,000,000 = 0.00108; 3.24 x 150 / 720,000 = 0.000675; 0.001755
    (
        "br-haiku-3m",
        "bedrock-reserved/claude-haiku-4-5 3-month 150 12 - -",
        1200,
        150,
        "11.34",
        "8164.8",
        "0.001755",
    ),
    # Llama 2 model units, 6 months, 2 units, the caller's 10,000 TPM and weight 1:
    # 2 x 13.08 = 26.16 an hour; x 720 = 18,835.2; load 1200 + 150 = 1,350; 10,000 x 2
    # x 60 = 1,200,000; 26.16 x 1,350 / 1,200,000 = 35,316 / 1,200,000 = 0.02943
    (
        "br-llama-6m",
        "bedrock-pt/meta.llama2-chat 6-month 2 - 10000 1",
        1200,
        150,
        "26.16",
        "18835.2",
        "0.02943",
    ),
    # Vertex Opus 4.5, 1 month, 35 GSU: 35 x 3.698630137 = 129.452054795 an hour; x 720
    # = 93,205.4794524; load 1200 + 150 x 5 = 1,950; 12,600 x 35 x 60 = 26,460,000;
    # 129.452054795 x 1,950 = 252,431.50685025; / 26,460,000 = 0.009540117.. = 0.0095401174
    (
        "vx-opus-1m",
        "vertex-global/claude-opus-4-5 1-month 35 - - -",
        1200,
        150,
        "129.452054795",
        "93205.4794524",
        "0.0095401174",
    ),
    # Vertex Sonnet 4.6, 3 months, 25 GSU: 25 x 3.287671233 = 82.191780825; x 720 =
    # 59,178.082194; 21,000 x 25 x 60 = 31,500,000; 82.191780825 x 1,950 =
    # 160,273.97260875; / 31,500,000: 160,273.97260875 = 7 x 22,896.28180125 and
    # 31,500,000 = 7 x 4,500,000, so it ends: 22,896.28180125 / 4,500,000 = 0.0050880626225
    (
        "vx-sonnet-3m",
        "vertex-global/claude-sonnet-4-6 3-month 25 - - -",
        1200,
        150,
        "82.191780825",
        "59178.082194",
        "0.0050880626225",
    ),
    # Vertex Haiku 4.5, 1 year, 8 GSU: 8 x 2.739726027 = 21.917808216; x 720 =
    # 15,780.82191552; 63,000 x 8 x 60 = 30,240,000; 21.917808216 x 1,950 =
    # 42,739.7260212; / 30,240,000 = 0.0014133507 (0.00141335072..)
    (
        "vx-haiku-1y",
        "vertex-global/claude-haiku-4-5 1-year 8 - - -",
        1200,
        150,
        "21.917808216",
        "15780.82191552",
        "0.0014133507",
    ),
]


def _number(text: str) -> Decimal | None:
    return None if text == "-" else Decimal(text)


def _capacity(offers: dict[str, OfferSpec], ask: str, busy: str = "1"):
    offer, term, units, out_units, tpm, weight = ask.split()
    return capacity(
        offers,
        offer,
        term,
        int(units),
        Decimal(busy),
        tokens_per_minute=_number(tpm),
        output_weight=_number(weight),
        output_units=None if out_units == "-" else int(out_units),
    )


@pytest.mark.parametrize(
    ("ask", "inp", "out", "hour", "month", "call"),
    [c[1:] for c in COSTS],
    ids=[c[0] for c in COSTS],
)
def test_units_on_a_term_cost_their_hour_month_and_share(
    offers: dict[str, OfferSpec],
    ask: str,
    inp: int,
    out: int,
    hour: str,
    month: str,
    call: str,
) -> None:
    cap = _capacity(offers, ask)
    assert cap.per_hour() == Decimal(hour)
    assert cap.monthly_cost() == Decimal(month)
    assert cap.call_cost(Decimal(inp), Decimal(out)) == Decimal(call)


def test_a_reservation_month_does_not_grow_with_the_hours(offers: dict[str, OfferSpec]) -> None:
    cap = _capacity(offers, "azure-global/gpt-4.1 monthly 15 - - -")
    # 15 x 260 = 3,900 at 730 hours as at 720; a call is a smaller share of a longer month:
    # 3,900 x 1,800 / (2,700,000 x 730 = 1,971,000,000) = 7,020,000 / 1,971,000,000
    # = 0.00356164383.. = 0.0035616438
    assert cap.monthly_cost(Decimal(730)) == Decimal(3900)
    assert cap.call_cost(Decimal(1200), Decimal(150), Decimal(730)) == Decimal("0.0035616438")
    # the hourly term does grow: 15 x 1.00 x 730 = 10,950
    hourly = _capacity(offers, "azure-global/gpt-4.1 hourly 15 - - -")
    assert hourly.monthly_cost(Decimal(730)) == Decimal(10950)


def test_half_busy_reserved_tier_doubles_the_share(offers: dict[str, OfferSpec]) -> None:
    cap = _capacity(offers, "bedrock-reserved/claude-haiku-4-5 1-month 100 10 - -", "0.5")
    # 100 x 0.06 + 10 x 0.30 = 6 + 3 = 9 an hour; at half use the sides serve 3,000,000
    # and 300,000 an hour: 6 x 1,200 / 3,000,000 + 3 x 150 / 300,000 = 0.0024 + 0.0015
    # = 0.0039 (twice the full-use 0.00195)
    assert cap.call_cost(Decimal(1200), Decimal(150)) == Decimal("0.0039")
    # calls a month: input 3,000,000 x 720 / 1,200 = 1,800,000; output 300,000 x 720 /
    # 150 = 1,440,000; the fewer, 1,440,000
    assert cap.requests_served(Decimal(1200), Decimal(150), Decimal(720)) == Decimal(1440000)


# --- break-even against on-demand ------------------------------------------------------------


def _workload(model: str, requests: int) -> str:
    return (
        f"name: provisioned prices\nprice_date: 2026-12-01\nmodels: [{model}]\n"
        f"requests: {{per_month: {requests}}}\nrequest:\n  user_input: 1200\n  output: 150\n"
    )


# (id, model, requests a month, "offer term units output-units", expected JSON fields)
BREAK_EVEN = [
    # Azure Global 1-year, 15 PTU, on-demand gpt-4.1: 1200 x 2/1M + 150 x 8/1M = 0.0036 a
    # request, x 1,000,000 = 3,600 a month; provisioned 15 x 221 = 3,315; break-even
    # 3,315 / 0.0036 = 920,833.33.. = 920833.3333333333 requests; capacity 2,700,000 x
    # 720 / 1,800 = 1,080,000 (fits 1,000,000): provisioned is cheaper
    (
        "azure-year",
        "openai/gpt-4.1",
        1_000_000,
        "azure-global/gpt-4.1 yearly 15 -",
        {
            "on_demand_per_month": "3600",
            "provisioned_per_month": "3315",
            "break_even_requests_per_month": "920833.3333333333",
            "capacity_requests_per_month": "1080000",
            "fits": True,
            "break_even_reachable": True,  # 920,833.33.. <= 1,080,000
            "cheaper": "provisioned",
        },
    ),
    # the 1-month reservation: 15 x 260 = 3,900; break-even 3,900 / 0.0036 = 1,083,333.33..
    # = 1083333.3333333333, above the 1,080,000 the 15 PTU carry: on-demand stays cheaper
    (
        "azure-month",
        "openai/gpt-4.1",
        1_000_000,
        "azure-global/gpt-4.1 monthly 15 -",
        {
            "provisioned_per_month": "3900",
            "break_even_requests_per_month": "1083333.3333333333",
            # a request at full use 3,900 / 1,080,000 = 0.00361.. > 0.0036 on demand:
            # no number of PTU reaches a break-even
            "break_even_reachable": False,
            "pays_at_full_use": False,
            "break_even_units": None,
            "cheaper": "on-demand",
        },
    ),
    # Bedrock Reserved Haiku 4.5, 1 month, 100 + 10 units, on-demand Haiku 4.5:
    # 1200 x 1/1M + 150 x 5/1M = 0.0012 + 0.00075 = 0.00195 a request, x 2,000,000 =
    # 3,900; provisioned 9 x 720 = 6,480; break-even 6,480 / 0.00195 = 3,323,076.92..
    # = 3323076.9230769231; x 1,350 tokens = 4,486,153,846.153846185; capacity: the
    # output side, 600,000 x 720 / 150 = 2,880,000 (input 6,000,000 x 720 / 1,200 =
    # 3,600,000); units needed: input 2e6 x 1,200 / (1000 x 60 x 720 = 43,200,000) =
    # 55.6 -> the minimum 100; output 2e6 x 150 / 43,200,000 = 6.9 -> the minimum 10
    (
        "bedrock-haiku",
        "anthropic/claude-haiku-4-5",
        2_000_000,
        "bedrock-reserved/claude-haiku-4-5 1-month 100 10",
        {
            "on_demand_per_request": "0.00195",
            "on_demand_per_month": "3900",
            "provisioned_per_hour": "9",
            "provisioned_per_month": "6480",
            "provisioned_per_request": "0.00195",
            "capacity_requests_per_month": "2880000",
            "fits": True,
            "units_needed": 100,
            "output_units": 10,
            "output_unit": "1K output TPM",
            "usd_per_output_unit_hour": "0.3",
            "output_units_needed": 10,
            "break_even_requests_per_month": "3323076.9230769231",
            "break_even_tokens_per_month": "4486153846.153846185",
            # 3,323,076.92.. > 2,880,000: not reached; a request with both sides fully used
            # costs 0.00195, not below 0.00195 on demand, so no proportion of units pays
            "break_even_reachable": False,
            "pays_at_full_use": False,
            "break_even_units": None,
            "requests_per_unit_hour": None,  # no one unit serves a request
            "cheaper": "on-demand",
        },
    ),
    # Vertex Haiku 4.5, 1 year, 8 GSU: 15,780.82191552 a month; break-even 15,780.82191552
    # / 0.00195 = 8,092,729.18744615.. = 8092729.1874461538; capacity 30,240,000 x 720 /
    # 1,950 = 11,165,538.46.. = 11165538.4615384615; at 10,000,000 requests (on-demand
    # 19,500) it fits and provisioned is cheaper
    (
        "vertex-haiku",
        "anthropic/claude-haiku-4-5",
        10_000_000,
        "vertex-global/claude-haiku-4-5 1-year 8 -",
        {
            "on_demand_per_month": "19500",
            "provisioned_per_month": "15780.82191552",
            "break_even_requests_per_month": "8092729.1874461538",
            "capacity_requests_per_month": "11165538.4615384615",
            "fits": True,
            "units_needed": 8,
            "break_even_reachable": True,  # 8,092,729.19.. <= 11,165,538.46..
            "cheaper": "provisioned",
        },
    ),
]


@pytest.mark.parametrize(
    ("model", "requests", "ask", "expected"),
    [c[1:] for c in BREAK_EVEN],
    ids=[c[0] for c in BREAK_EVEN],
)
def test_break_even_against_on_demand(
    catalog: Catalog,
    offers: dict[str, OfferSpec],
    model: str,
    requests: int,
    ask: str,
    expected: dict[str, object],
) -> None:
    est = estimate(parse_workload(_workload(model, requests)), catalog=catalog)
    [row] = compare(est, _capacity(offers, ask + " - -"))
    got = row.as_json()
    assert {key: got[key] for key in expected} == expected


def test_a_price_per_hour_and_per_month_for_one_term_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text(
        "offers:\n  - id: x/y\n    provider: azure\n    deployment: d\n    models: [m]\n"
        "    unit: PTU\n    terms: [monthly]\n    usd_per_unit_hour: {monthly: '1'}\n"
        "    usd_per_unit_month: {monthly: '260'}\n    source: test\n",
        "utf-8",
    )
    with pytest.raises(CatalogFileError, match="priced per hour or per month, not both: monthly"):
        load_offers(path)


def test_output_weight_does_not_apply_to_a_reserved_tier(offers: dict[str, OfferSpec]) -> None:
    with pytest.raises(ProvisionedError, match="--output-weight does not apply"):
        capacity(
            offers,
            "bedrock-reserved/claude-haiku-4-5",
            "1-month",
            100,
            output_weight=Decimal(5),
            output_units=10,
        )


def test_a_term_without_a_published_price_asks_for_one(tmp_path: Path) -> None:
    # the message that used to meet every shipped offer now meets only an unpriced term
    path = tmp_path / "offers.yaml"
    path.write_text(
        "offers:\n  - id: mine/m\n    provider: bedrock\n    deployment: d\n    models: [m]\n"
        "    unit: model unit\n    terms: [1-month, 6-month]\n"
        "    usd_per_unit_hour: {1-month: '21.18'}\n    source: test fixture (not a price)\n",
        "utf-8",
    )
    offers = load_offers(path)
    with pytest.raises(ProvisionedError) as info:
        capacity(offers, "mine/m", "6-month", 1, tokens_per_minute=Decimal(1000))
    assert str(info.value) == (
        "mine/m has no published price per model unit-hour on the term '6-month' here; "
        "give it with --unit-price (USD per model unit-hour)"
    )
