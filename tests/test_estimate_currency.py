"""Estimates across currencies, thinking-mode output and output-length cliffs.

Synthetic price files (per 1M tokens) so that every rule is checked on its own:

- acme-us/big (USD): input $1, output $2;
- acme-cn/dear (CNY): input ¥8, output ¥8 (more yuan than big has dollars, fewer
  dollars once converted: ranking unconverted amounts would put it last);
- acme-cn/thinker (CNY, a reasoning model): input ¥1, output ¥2, thinking ¥8
  (every output token of a request with reasoning, as Qwen bills thinking mode);
- acme-cn/seedish (CNY, a reasoning model): input ¥1, output ¥2, and output ¥8
  when the output (reasoning included) is over 200 tokens (Doubao's shape).

Rates: one round test rate, 1 USD = 8 CNY from 2026-01-01 (1 CNY = 0.125 USD).
One test uses the real catalog and the shipped table: gpt-4o ($2.50 / $10 per
1M, https://openai.com/api/pricing) against alibaba-cn/qwen-plus (¥0.8 / ¥2,
https://help.aliyun.com/zh/model-studio/model-pricing) at the CFETS central
parity of 2025-02-25, 1 USD = 7.1726 CNY (docs/currencies.md: 1 CNY =
0.1394194573794718790954465605 USD, 1/7.1726 to 28 digits).
Every amount is worked by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from currency_support import use_rates
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.currency import Rate, RateTable
from llmtally.estimate import Estimate, estimate, parse_workload, reprice
from llmtally.ledger import Store
from llmtally.meter import cost
from llmtally.usage import Call, Usage, new_ulid
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

D = Decimal

US = """\
provider: acme-us
name: ACME US
pricing_url: https://acme.example/pricing
models:
  - id: big
    prices:
      - {source: "https://acme.example/pricing", input: "1", output: "2"}
"""

CN = """\
provider: acme-cn
name: ACME CN
pricing_url: https://acme.example/cn
currency: CNY
models:
  - id: dear
    prices:
      - {source: "https://acme.example/cn", input: "8", output: "8"}
  - id: thinker
    kind: reasoning
    prices:
      - {source: "https://acme.example/cn", input: "1", output: "2", output_thinking: "8"}
  - id: seedish
    kind: reasoning
    prices:
      - source: https://acme.example/cn
        input: "1"
        output: "2"
        long_context:
          - {above: 0, output_above: 200, output: "8"}
"""

RATES_FILE = """\
rates:
  - {date: 2026-01-01, base: USD, quote: CNY, rate: "8", source: "test rate"}
"""
EIGHT = RateTable([Rate(dt.date(2026, 1, 1), "USD", "CNY", D(8), "test rate")])

WORKLOAD = """\
price_date: 2026-12-01
requests: {{per_month: 1000}}
request:
  user_input: 1000
  output: {output}
{reasoning}
"""


def _files(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "acme_us.yaml").write_text(US)
    (folder / "acme_cn.yaml").write_text(CN)
    return folder


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return Catalog.load(builtin=_files(tmp_path_factory.mktemp("prices")))


def _run(
    catalog: Catalog,
    models: list[str],
    output: int = 100,
    reasoning: str = "",
    **options: object,
) -> Estimate:
    text = WORKLOAD.format(output=output, reasoning=reasoning)
    return estimate(parse_workload(text), models, catalog=catalog, **options)  # type: ignore[arg-type]


# --- currencies ---------------------------------------------------------------------


def test_mixed_currencies_are_converted_to_usd_and_ranked_so(catalog: Catalog) -> None:
    est = _run(catalog, ["acme-us/big", "acme-cn/dear"], rates=EIGHT)
    assert est.currency == "USD"
    # big: 1,000 x 1/1M + 100 x 2/1M = 0.001 + 0.0002 = $0.0012 a request
    # dear: 1,000 x 8/1M + 100 x 8/1M = 0.008 + 0.0008 = ¥0.0088 = 0.0088 x 0.125 = $0.0011
    assert est.model("acme-us/big").per_request == D("0.0012")
    assert est.model("acme-cn/dear").per_request == D("0.0011")
    assert est.model("acme-cn/dear").per_month == D("1.1")  # x 1,000 requests
    # cheapest first: $0.0011 before $0.0012 (¥0.0088 unconverted would be last)
    assert [m.model for m in est.models] == ["acme-cn/dear", "acme-us/big"]
    (line,) = est.fx
    assert (line.source, line.target, line.rate, line.day) == (
        "CNY",
        "USD",
        D("0.125"),
        dt.date(2026, 1, 1),
    )
    data = est.as_json()
    assert data["currency"] == "USD"
    assert data["fx"] == [
        {"from": "CNY", "to": "USD", "rate": "0.125", "date": "2026-01-01", "source": "test rate"}
    ]
    prices = {m["model"]: m["price_currency"] for m in data["models"]}
    assert prices == {"acme-cn/dear": "CNY", "acme-us/big": "USD"}


def test_one_currency_stays_as_it_is(catalog: Catalog) -> None:
    est = _run(catalog, ["acme-cn/dear"], rates=EIGHT)
    assert (est.currency, est.fx) == ("CNY", ())
    assert est.model("acme-cn/dear").per_request == D("0.0088")  # as worked above, in yuan


def test_another_currency_can_be_asked_for(catalog: Catalog) -> None:
    est = _run(catalog, ["acme-us/big", "acme-cn/dear"], rates=EIGHT, currency="CNY")
    assert est.currency == "CNY"
    # big: $0.0012 x 8 = ¥0.0096; dear stays ¥0.0088
    assert est.model("acme-us/big").per_request == D("0.0096")
    assert est.model("acme-cn/dear").per_request == D("0.0088")
    assert [(f.source, f.target, f.rate) for f in est.fx] == [("USD", "CNY", D(8))]


def test_a_price_with_no_rate_is_an_error_row_not_an_amount(catalog: Catalog) -> None:
    later = RateTable([Rate(dt.date(2027, 1, 1), "USD", "CNY", D(8), "test rate")])
    est = _run(catalog, ["acme-cn/dear", "acme-us/big"], rates=later)
    dear = est.model("acme-cn/dear")
    assert dear.per_month is None
    assert dear.error is not None
    assert dear.error.startswith("priced in CNY, not comparable in USD: no CNY->USD exchange rate")
    assert "on or before 2026-12-01" in dear.error
    assert [m.model for m in est.models] == ["acme-us/big", "acme-cn/dear"]  # errors last


def test_gpt_4o_against_qwen_plus_at_the_shipped_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))  # no override rates file
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    est = _run(Catalog.load(), ["openai/gpt-4o", "alibaba-cn/qwen-plus"])
    # gpt-4o: 1,000 x 2.5/1M + 100 x 10/1M = 0.0025 + 0.001 = $0.0035
    assert est.model("openai/gpt-4o").per_request == D("0.0035")
    # qwen-plus: 1,000 x 0.8/1M + 100 x 2/1M = 0.0008 + 0.0002 = ¥0.001
    # = 0.001 x 0.1394194573794718790954465605 = $0.0001394194573794718790954465605
    qwen = est.model("alibaba-cn/qwen-plus")
    assert qwen.per_request == D("0.0001394194573794718790954465605")
    (line,) = est.fx
    assert (line.rate, line.day) == (D("0.1394194573794718790954465605"), dt.date(2025, 2, 25))
    assert est.models[0].model == "alibaba-cn/qwen-plus"


# --- thinking output and output-length cliffs ----------------------------------------


def test_reasoning_bills_the_answer_at_the_thinking_rate(catalog: Catalog) -> None:
    thinking = _run(catalog, ["acme-cn/thinker"], reasoning="  reasoning: {tokens: 300}")
    # 1,000 x 1/1M + answer 100 x 8/1M + reasoning 300 x 8/1M = 0.001 + 0.0008 + 0.0024
    row = thinking.model("acme-cn/thinker")
    assert row.per_request == D("0.0042")
    assert (row.components["output"], row.components["reasoning"]) == (D("0.8"), D("2.4"))
    # the meter on the same request agrees
    price = catalog.price_at("acme-cn", "thinker", dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC))
    whole = Usage(input_tokens=1000, output_tokens=400, reasoning_tokens=300)
    assert cost(whole, price).total == D("0.0042")
    # no reasoning: the plain output rate, 0.001 + 100 x 2/1M = 0.0012
    assert _run(catalog, ["acme-cn/thinker"]).model("acme-cn/thinker").per_request == D("0.0012")


@pytest.mark.parametrize(
    ("output", "reasoning", "expected"),
    [
        # 200 output tokens is not over 200: 0.001 + 200 x 2/1M = 0.0014
        (200, "", "0.0014"),
        # 201 is: the whole output at 8: 0.001 + 201 x 8/1M = 0.001 + 0.001608 = 0.002608
        (201, "", "0.002608"),
        # 150 answer + 100 reasoning = 250 over 200: 0.001 + 250 x 8/1M = 0.003
        (150, "  reasoning: {tokens: 100}", "0.003"),
        # 100 answer + 100 reasoning = 200, not over: 0.001 + 200 x 2/1M = 0.0014
        (100, "  reasoning: {tokens: 100}", "0.0014"),
    ],
)
def test_an_output_cliff_is_decided_on_the_whole_output(
    catalog: Catalog, output: int, reasoning: str, expected: str
) -> None:
    est = _run(catalog, ["acme-cn/seedish"], output=output, reasoning=reasoning)
    assert est.model("acme-cn/seedish").per_request == D(expected)


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    use_rates(tmp_path, RATES_FILE, monkeypatch)
    override = tmp_path / "prices.yaml"
    override.write_text("providers:\n" + _indent(CN))
    workload = tmp_path / "workload.yaml"
    workload.write_text(WORKLOAD.format(output=100, reasoning=""))
    return override, workload


def _indent(text: str) -> str:
    lines = text.splitlines()
    return "\n".join([f"  - {lines[0]}", *(f"    {line}" for line in lines[1:])]) + "\n"


def test_the_command_states_the_rate(cli: tuple[Path, Path]) -> None:
    override, workload = cli
    args = ["estimate", str(workload), "--models", "openai/gpt-4o,acme-cn/dear"]
    args += ["--prices-file", str(override)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["currency"] == "USD"
    assert data["fx"][0]["rate"] == "0.125"
    per_request = {m["model"]: m["per_request"] for m in data["models"]}
    # gpt-4o $0.0035 (as above); dear ¥0.0088 x 0.125 = $0.0011
    assert per_request == {"openai/gpt-4o": "0.0035", "acme-cn/dear": "0.0011"}
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "in USD at 1 CNY = 0.125 USD (2026-01-01, test rate)" in text.stdout
    assert "$1.10" in text.stdout  # dear's month: 0.0011 x 1,000
    yuan = CliRunner().invoke(app, [*args, "--currency", "cny"])
    assert yuan.exit_code == 0, yuan.output
    assert "¥8.80" in yuan.stdout  # dear's month in yuan: 0.0088 x 1,000
    assert "¥28.00" in yuan.stdout  # gpt-4o's: 0.0035 x 8 x 1,000


def test_the_command_refuses_a_currency_it_cannot_use(cli: tuple[Path, Path]) -> None:
    _, workload = cli
    unknown = CliRunner().invoke(app, ["estimate", str(workload), "--currency", "XYZ"])
    assert unknown.exit_code != 0
    assert "--currency: unknown currency 'XYZ'" in unknown.stderr
    ledger = CliRunner().invoke(
        app, ["estimate", "--from-ledger", "--models", "openai/gpt-4o", "--currency", "CNY"]
    )
    assert ledger.exit_code != 0
    assert "--from-ledger (the ledger) are in USD" in ledger.stderr


# --- re-pricing the ledger on a CNY model ----------------------------------------------

T0 = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)


def _call(catalog: Catalog, usage: Usage, feature: str, n: int) -> Call:
    started = T0 + dt.timedelta(seconds=n)
    return Call(
        id=new_ulid(),
        started_at=started,
        provider="acme-us",
        model_requested="big",
        model_served="big",
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=100.0,
        usage=usage,
        cost=cost(usage, catalog.price_at("acme-us", "big", started)),
        feature=feature,
    )


def test_ledger_calls_repriced_on_a_cny_model_are_in_usd(
    store: Store,  # noqa: F811 - SQLite and PostgreSQL
    catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_rates(tmp_path, RATES_FILE, monkeypatch)
    short, long = Usage(input_tokens=1000, output_tokens=100), Usage(1000, output_tokens=300)
    store.insert_many(
        [_call(catalog, short, "short", n) for n in range(2)]
        + [_call(catalog, long, "long", n + 2) for n in range(2)]
    )
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    rep = reprice(store, ["acme-cn/seedish"], T0 - dt.timedelta(days=1), catalog=catalog, at=at)
    (info,) = rep.targets
    assert info.error is None
    # short: 2 x (1,000 x 1/1M + 100 x 2/1M) = 2 x 0.0012 = ¥0.0024 = $0.0003
    assert rep.cost("acme-cn/seedish", "short") == D("0.0003")
    # long (300 output, over 200): 2 x (0.001 + 300 x 8/1M) = 2 x 0.0034 = ¥0.0068 = $0.00085
    assert rep.cost("acme-cn/seedish", "long") == D("0.00085")
    assert rep.cost("acme-cn/seedish") == D("0.00115")
    # recorded on big: 2 x (0.001 + 0.0002) + 2 x (0.001 + 0.0006) = 0.0024 + 0.0032 = $0.0056
    assert rep.total.actual == D("0.0056")
    # the rate used, with the calls priced at it
    assert info.notes["priced in CNY, converted at 1 CNY = 0.125 USD (2026-01-01, test rate)"] == 4
