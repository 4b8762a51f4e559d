"""Every CLI table read at 80 columns: model and instance names, ids and money
whole (folded onto a second line at worst, never cut with an ellipsis), lines
no wider than the terminal. Expected strings are written out by hand, or from
``--json`` through ``money_support.written`` (not the code under test)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from money_support import written
from narrow_support import readable, row_of, stdout_of

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _eighty_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLMTALLY_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def test_prices_show_whole_model_names_and_prices_at_80_columns() -> None:
    lines = readable(stdout_of("prices", "claude-sonnet"))
    # Anthropic's list prices for Sonnet 4.5: $3 input, $0.30 cache read, $15 output
    assert row_of(lines, "anthropic/claude-sonnet-4-5") == [
        "anthropic/claude-sonnet-4-5",
        "$3.00",
        "$0.30",
        "$15.00",
        "200,000",
    ]
    assert any("a wider terminal or --json" in line for line in lines)
    lines = readable(stdout_of("prices", "gpt-4o*"))
    # gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per 1M tokens
    assert row_of(lines, "openai/gpt-4o-mini") == [
        "openai/gpt-4o-mini",
        "$0.15",
        "$0.075",
        "$0.60",
        "128,000",
    ]


def test_prices_show_every_column_where_the_terminal_is_wide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    lines = stdout_of("prices", "claude-sonnet-4-5").splitlines()
    row = row_of(lines, "claude-sonnet-4-5")
    assert row[:3] == ["anthropic", "claude-sonnet-4-5", "chat"]
    assert "$1.50/$7.50" in row  # the batch prices: half of $3 and $15


def test_the_self_hosted_rate_is_short_in_tables_and_rounded_at_the_source() -> None:
    # $38/h over 24,000 prompt tok/s (86.4M an hour) and 2,400 output tok/s (8.64M):
    # $0.43981481... and $4.3981481... per 1M, kept to 16 places
    (row,) = json.loads(stdout_of("prices", "local/llama-3.1-70b-instruct", "--json"))
    assert row["input_per_1m"] == "0.4398148148148148"
    assert row["output_per_1m"] == "4.3981481481481481"
    lines = readable(stdout_of("prices", "local/llama-3.1-70b-instruct"))
    assert row_of(lines, "local/llama-3.1-70b-instruct")[1:4] == ["$0.4398", "-", "$4.398"]


def test_selfhost_plan_keeps_instance_names_and_money_whole() -> None:
    lines = readable(stdout_of("selfhost", "--model", "llama-3.1-70b"))
    fp16 = row_of(lines, "fp16")
    # Standard_NC96ads_A100_v4 lists at $14.692/h: 720 h = $10,578.24 a month
    assert fp16[1] == "Standard_NC96ads_A100_v4"
    assert "$10,578.24" in fp16
    assert any("anthropic/claude-sonnet-4-5" in line.split() for line in lines)


def test_selfhost_instances_keep_names_and_money_whole() -> None:
    lines = readable(stdout_of("selfhost", "instances", "--gpu", "A100"))
    row = row_of(lines, "Standard_NC96ads_A100_v4")
    assert row[-2:] == ["$14.69", "$10,578.24"]  # $14.692/h; x 720 h
    # p4d.24xlarge: $21.957642/h x 720 = $15,809.50224
    assert row_of(lines, "p4d.24xlarge")[-2:] == ["$21.96", "$15,809.50"]


def test_the_estimate_shows_every_model_and_amount_whole() -> None:
    workload = str(REPO / "examples" / "support-bot.yaml")
    out = stdout_of("estimate", workload)
    lines = readable(out)
    data = json.loads(stdout_of("estimate", workload, "--json"))
    for model in data["models"]:
        name = model["model"]
        assert written(Decimal(model["per_month"])) in row_of(lines, name)
        short = name.split("/", 1)[-1]
        assert any(short in line.split() for line in lines if "$" not in line), short
        for amount in [
            *model["components_per_month"].values(),
            *model["sources_per_month"].values(),
        ]:
            if Decimal(amount):
                assert written(Decimal(amount)) in out, (name, amount)


def test_keys_list_shows_the_whole_id(tmp_path: Path) -> None:
    made = json.loads(
        stdout_of(
            "keys", "create", "--name", "support bot production", "--budget-usd", "12.5", "--json"
        )
    )
    lines = readable(stdout_of("keys", "list"))
    row = row_of(lines, made["id"])
    assert row[0] == made["id"] and len(made["id"]) == 26
    assert "$12.50/month" in row and "$0" in row
    assert lines[0].strip().startswith("1 gateway key;")


def test_the_language_tax_headers_are_whole_and_approximations_marked() -> None:
    names = "gpt-4.1,claude-sonnet-4-5,gemini-2.5-flash,deepseek-chat"
    lines = readable(stdout_of("count", "--languages", "--compare", names))
    headers = {word for line in lines if line.startswith("language") for word in line.split()}
    assert {"gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-flash", "deepseek-chat"} <= headers
    rows = json.loads(stdout_of("count", "--languages", "--compare", names, "--json"))
    english = {r["model"]: r["tokens"] for r in rows if r["code"] == "en"}
    # exact tokenizers plainly, Claude's and Gemini's approximations with a ~
    text = "\n".join(lines)
    assert f"~1.00x ({english['anthropic/claude-sonnet-4-5']:,})" in text
    assert f"~1.00x ({english['google/gemini-2.5-flash']:,})" in text
    assert f" 1.00x ({english['openai/gpt-4.1']:,})" in text
    assert "~ an approximation" in text


def test_calls_keep_ids_and_costs_whole_when_ids_share_a_long_prefix(tmp_path: Path) -> None:
    """Calls recorded in one millisecond by one process have ids that differ only
    in their last character: the id column is then 26 wide, and the cost must still
    be whole (it was cut to "$0." and "$0"). Costs by hand: gpt-4o 19 x $2.50 +
    10 x $10 per 1M = $0.0001475 (shown $0.000148); claude-sonnet-4 2,095 x $3 +
    2,051 x $3.75 + 503 x $15 per 1M = $0.02152125 (shown $0.02); gemini-2.5-flash
    8 x $0.30 + 654 x $2.50 per 1M = $0.0016374 (shown $0.00164)."""
    import datetime as dt

    from llmtally.catalog import Catalog
    from llmtally.ledger import open_store
    from llmtally.meter import cost
    from llmtally.usage import Call, Usage

    catalog = Catalog.load()
    at = dt.datetime(2026, 12, 6, 19, 58, tzinfo=dt.UTC)
    made = [
        ("01M96EZQAM9JA6PREH9AG3SQX7", "openai", "gpt-4o-2024-08-06", Usage(19, output_tokens=10)),
        (
            "01M96EZQAM9JA6PREH9AG3SQX8",
            "anthropic",
            "claude-sonnet-4-20250514",
            Usage(4146, cache_write_tokens=2051, output_tokens=503),
        ),
        ("01M96EZQAM9JA6PREH9AG3SQX9", "google", "gemini-2.5-flash", Usage(8, output_tokens=654)),
    ]
    calls = [
        Call(
            id=call_id,
            started_at=at,
            provider=provider,
            model_requested=model,
            model_served=model,
            endpoint="/v1/chat/completions",
            status=200,
            latency_ms=900.0,
            usage=usage,
            cost=cost(usage, catalog.price_at(provider, model, at)),
        )
        for call_id, provider, model, usage in made
    ]
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        store.insert_many(calls)
    lines = readable(stdout_of("calls"))
    shown = "\n".join(lines)
    for cost_text in ("$0.000148", "$0.02", "$0.00164"):
        assert any(cost_text in line.split() for line in lines), shown
    for call_id, *_ in made:  # whole, or folded onto the next line
        assert call_id in shown.replace("\n", "") or call_id in "".join(
            line.split()[0] for line in lines if line.strip()
        ), shown


def test_report_keeps_totals_and_names_whole_and_names_gateway_keys(tmp_path: Path) -> None:
    """At 80 columns the footer's token total was cut ("143,9…") and model names
    wrapped; a gateway key is shown by its name, its id below it."""
    import datetime as dt

    from llmtally.ledger import open_store
    from llmtally.usage import Call, Usage

    made = json.loads(stdout_of("keys", "create", "--name", "workers", "--json"))
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    calls = [
        Call(
            id=f"01M96EZQAM9JA6PREH9AG3SQ{n:02d}",
            started_at=now,
            provider="anthropic",
            model_requested="claude-sonnet-4-20250514",
            model_served="claude-sonnet-4-20250514",
            endpoint="/v1/messages",
            status=200,
            latency_ms=900.0,
            usage=Usage(71_951, output_tokens=20_500),
            cost_error="left unpriced for this test",
            key_id=made["id"],
        )
        for n in range(2)
    ]
    with open_store(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as store:
        store.insert_many(calls)
    lines = readable(stdout_of("report", "--by", "model"))
    assert row_of(lines, "claude-sonnet-4-20250514")[:4] == [
        "claude-sonnet-4-20250514",
        "2",
        "143,902",  # 2 x 71,951
        "41,000",  # 2 x 20,500
    ]
    assert row_of(lines, "total")[:4] == ["total", "2", "143,902", "41,000"]
    lines = readable(stdout_of("report", "--by", "key"))
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["workers"])
    assert lines[at + 1].split() == [made["id"]]
