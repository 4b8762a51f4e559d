"""``llmtally reconcile`` (issue 14): a known ledger beside synthetic provider
reports built from it (tests/reconcile_synthetic.py), with differences planted:
traffic on a key the ledger never saw (unrecorded), failed calls and cut streams
the bill lacks (not billed). Each is found with its exact amount, and nothing
else; a clean month reconciles to 0.000%.

Prices (the built-in catalog, USD per 1M tokens):
- openai/gpt-4o-mini: input 0.15, cached input 0.075, output 0.60;
- anthropic/claude-sonnet-4-5: input 3.00, 5m cache write 3.75, 1h cache write
  6.00, cache read 0.30, output 15.00.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import Store, open_store
from llmtally.pricing import price_usage
from llmtally.reconcile.compare import Reconciliation, reconcile
from llmtally.reconcile.load import import_page
from llmtally.usage import Call, Usage
from reconcile_synthetic import (
    Seen,
    anthropic_cost_page,
    anthropic_usage_page,
    openai_costs_page,
    openai_usage_page,
    seen,
)
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

NOV = dt.date(2026, 11, 1)
SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CATALOG = Catalog.load()


def _call(
    call_id: str,
    day: int,
    provider: str,
    model: str,
    usage: Usage,
    status: int = 200,
    served: str | None = None,
    flags: tuple[str, ...] = (),
) -> Call:
    """A call priced the way the ledger prices it (the catalog's price of the day)."""
    started = dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC)
    priced = price_usage(usage, CATALOG, provider, served or model, started)
    return Call(
        id=call_id,
        started_at=started,
        provider=provider,
        model_requested=model,
        model_served=served,
        endpoint="/v1/chat/completions" if provider == "openai" else "/v1/messages",
        status=status,
        latency_ms=100.0,
        usage=usage,
        cost=priced.cost,
        cost_error=priced.reason,
        flags=flags,
    )


# OpenAI, gpt-4o-mini, 2026-11-03 (dollars: tokens x rate / 1M)
O1 = _call(
    "o1",
    3,
    "openai",
    "gpt-4o-mini",
    Usage(input_tokens=1_000_000, cache_read_tokens=200_000, output_tokens=100_000),
    served="gpt-4o-mini-2024-07-18",
)  # 800,000 x 0.15 = 0.12; 200,000 x 0.075 = 0.015; 100,000 x 0.60 = 0.06 -> $0.195
O2 = _call(
    "o2", 3, "openai", "gpt-4o-mini", Usage(input_tokens=2_000_000, output_tokens=200_000)
)  # 2,000,000 x 0.15 = 0.30; 200,000 x 0.60 = 0.12 -> $0.42
F1 = _call(
    "f1", 3, "openai", "gpt-4o-mini", Usage(input_tokens=100_000), status=500
)  # failed: 100,000 x 0.15 -> $0.015
C1 = _call(
    "c1",
    3,
    "openai",
    "gpt-4o-mini",
    Usage(input_tokens=50_000, output_tokens=10_000, source="estimated"),
    status=502,
)  # stream cut upstream, estimated: 50,000 x 0.15 = 0.0075; 10,000 x 0.60 = 0.006 -> $0.0135
E1 = _call(
    "e1", 3, "openai", "gpt-4o-mini", Usage(source="estimated"), status=429
)  # refused, no tokens: $0, in nothing but the failed-call count
# Traffic on a key the ledger never saw: 400,000 x 0.15 = 0.06; 50,000 x 0.60 = 0.03 -> $0.09
BYPASS = Seen(
    day=dt.date(2026, 11, 3),
    model="gpt-4o-mini-2024-07-18",
    api_key_id="key_bypass",
    project_id="proj_side",
    input=400_000,
    output=50_000,
)

# Anthropic, claude-sonnet-4-5, 2026-11-04
A1 = _call(
    "a1",
    4,
    "anthropic",
    "claude-sonnet-4-5",
    Usage(
        input_tokens=100_000,
        cache_read_tokens=40_000,
        cache_write_tokens=20_000,
        cache_write_1h_tokens=5_000,
        output_tokens=10_000,
    ),
    served="claude-sonnet-4-5-20250929",
)  # uncached 40,000 x 3 = 0.12; read 40,000 x 0.30 = 0.012; 5m 15,000 x 3.75 = 0.05625;
# 1h 5,000 x 6 = 0.03; output 10,000 x 15 = 0.15 -> $0.36825
A2 = _call(
    "a2",
    4,
    "anthropic",
    "claude-sonnet-4-5",
    Usage(input_tokens=10_000, output_tokens=2_000, source="estimated"),
    status=499,
    flags=("client_disconnected",),
)  # client left mid-stream, estimated: 10,000 x 3 = 0.03; 2,000 x 15 = 0.03 -> $0.06


def _bill(ledger: Store, openai: list[Seen], anthropic: list[Seen], billed: dict[Any, Any]) -> None:
    """Import the provider's side: usage pages from what it saw, costs as given."""
    openai_billed = {k: v for k, v in billed.items() if isinstance(k, dt.date)}
    anthropic_billed = {k: v for k, v in billed.items() if isinstance(k, tuple)}
    import_page(ledger, "openai", "usage:completions", openai_usage_page(openai), "test")
    import_page(ledger, "openai", "costs", openai_costs_page(openai_billed), "test")
    import_page(ledger, "anthropic", "usage:messages", anthropic_usage_page(anthropic), "test")
    import_page(ledger, "anthropic", "costs", anthropic_cost_page(anthropic_billed), "test")


def _planted(ledger: Store) -> None:
    ledger.insert_many([O1, O2, F1, C1, E1, A1, A2])
    _bill(
        ledger,
        openai=[*seen([O1, O2], "key_gateway", "proj_main"), BYPASS],
        anthropic=seen([A1], "apikey_gateway", "wrk_main"),
        billed={
            # o1 + o2 + bypass = 0.195 + 0.42 + 0.09
            dt.date(2026, 11, 3): Decimal("0.705"),
            # a1 alone (a2 not billed); the report names the dated snapshot
            (dt.date(2026, 11, 4), "claude-sonnet-4-5-20250929"): Decimal("0.36825"),
        },
    )


def _result(ledger: Store) -> Reconciliation:
    return reconcile(ledger, CATALOG, SINCE, UNTIL)


def test_the_ledger_prices_the_calls_as_the_comments_say() -> None:
    costs = {c.id: c.cost.total if c.cost else None for c in (O1, O2, F1, C1, E1, A1, A2)}
    assert costs == {
        "o1": Decimal("0.195"),
        "o2": Decimal("0.42"),
        "f1": Decimal("0.015"),
        "c1": Decimal("0.0135"),
        "e1": Decimal("0"),
        "a1": Decimal("0.36825"),
        "a2": Decimal("0.06"),
    }


def test_each_planted_difference_is_found_with_its_exact_amount(store: Store) -> None:  # noqa: F811
    _planted(store)
    result = _result(store)
    found = [(e.kind, e.provider, e.model, e.effect, e.call_ids) for e in result.explanations]
    assert found == [
        # c1 + f1 = 0.0135 + 0.015 (time, then id order); the 429 (e1) cost $0, explains nothing
        ("not billed", "openai", "gpt-4o-mini", Decimal("0.0285"), ("c1", "f1")),
        ("unrecorded", "openai", "gpt-4o-mini", Decimal("-0.09"), ()),
        ("not billed", "anthropic", "claude-sonnet-4-5", Decimal("0.06"), ("a2",)),
    ]
    unrecorded = result.explanations[1]
    [source] = unrecorded.sources
    assert (source.key, source.project, source.usd) == ("key_bypass", "proj_side", Decimal("0.09"))
    assert (unrecorded.tokens.uncached_input, unrecorded.tokens.output) == (400_000, 50_000)
    assert "cut stream" in result.explanations[0].detail
    assert "failed" in result.explanations[0].detail


def test_the_day_rows_and_the_headline(store: Store) -> None:  # noqa: F811
    _planted(store)
    result = _result(store)
    rows = {r.label: r for r in result.day_rows()}
    openai = rows["2026-11-03 openai"]
    # ledger: 0.195 + 0.42 + 0.015 + 0.0135 = 0.6435; billed 0.705; difference -0.0615
    assert (openai.ledger, openai.billed, openai.difference) == (
        Decimal("0.6435"),
        Decimal("0.705"),
        Decimal("-0.0615"),
    )
    # explained: +0.0285 (not billed) - 0.09 (unrecorded) = -0.0615: nothing left
    assert (openai.explained, openai.unexplained, openai.failed_calls) == (
        Decimal("-0.0615"),
        Decimal("0"),
        3,
    )
    anthropic = rows["2026-11-04 anthropic"]
    # 0.36825 + 0.06 = 0.42825 against 0.36825: +0.06, all of it a2
    assert (anthropic.ledger, anthropic.billed, anthropic.unexplained) == (
        Decimal("0.42825"),
        Decimal("0.36825"),
        Decimal("0"),
    )
    head = result.headline()
    # ledger 0.6435 + 0.42825 = 1.07175; billed 0.705 + 0.36825 = 1.07325;
    # -0.0015 / 1.07325 x 100 = -0.13976... -> -0.140%
    assert (head.ledger, head.billed) == (Decimal("1.07175"), Decimal("1.07325"))
    assert head.error_percent == Decimal("-0.140")
    assert (head.unrecorded, head.unexplained) == (Decimal("0.09"), Decimal(0))
    assert head.left_out == ()


def test_by_model_and_by_key(store: Store) -> None:  # noqa: F811
    _planted(store)
    result = _result(store)
    models = {r.label: (r.ledger, r.billed) for r in result.model_rows()}
    # the ledger's gpt-4o-mini and the report's gpt-4o-mini-2024-07-18 meet in one row;
    # OpenAI's cost lines name no model, so its billed column is unknown per model
    assert models == {
        "anthropic/claude-sonnet-4-5": (Decimal("0.42825"), Decimal("0.36825")),
        "openai/gpt-4o-mini": (Decimal("0.6435"), None),
    }
    keys = {r.label: r.explained for r in result.source_rows("key")}
    assert keys == {
        "anthropic apikey_gateway": Decimal("0"),
        "openai key_bypass": Decimal("-0.09"),
        "openai key_gateway": Decimal("0"),
    }
    projects = {r.label: r.explained for r in result.source_rows("project")}
    assert projects["openai proj_side"] == Decimal("-0.09")


def test_a_clean_month_reconciles_to_zero(store: Store) -> None:  # noqa: F811
    o1 = _call("o1", 1, "openai", "gpt-4o-mini", O1.usage, served="gpt-4o-mini-2024-07-18")
    o2 = _call("o2", 15, "openai", "gpt-4o-mini", O2.usage)
    a1 = _call("a1", 30, "anthropic", "claude-sonnet-4-5", A1.usage)
    store.insert_many([o1, o2, a1])
    _bill(
        store,
        openai=seen([o1, o2], "key_gateway"),
        anthropic=seen([a1], "apikey_gateway"),
        billed={
            dt.date(2026, 11, 1): Decimal("0.195"),
            dt.date(2026, 11, 15): Decimal("0.42"),
            (dt.date(2026, 11, 30), "claude-sonnet-4-5"): Decimal("0.36825"),
        },
    )
    result = _result(store)
    assert result.explanations == []
    assert [r.unexplained for r in result.day_rows()] == [0, 0, 0]
    head = result.headline()
    # 0.195 + 0.42 + 0.36825 = 0.98325 on both sides
    assert (head.ledger, head.billed) == (Decimal("0.98325"), Decimal("0.98325"))
    assert f"{head.error_percent:.3f}" == "0.000"


def test_failed_calls_the_provider_did_bill_explain_nothing(store: Store) -> None:  # noqa: F811
    store.insert_many([O1, F1])
    _bill(
        store,
        # the provider counted f1's 100,000 input tokens on the same key
        openai=seen([O1, F1], "key_gateway"),
        anthropic=[],
        billed={dt.date(2026, 11, 3): Decimal("0.21")},  # 0.195 + 0.015
    )
    result = _result(store)
    assert result.explanations == []
    [row] = result.day_rows()
    assert (row.ledger, row.billed) == (Decimal("0.21"), Decimal("0.21"))
    assert row.unexplained == Decimal(0)


def test_unrecorded_usage_of_a_model_the_catalog_lacks_is_shown_not_priced(
    store: Store,  # noqa: F811
) -> None:
    stray = Seen(dt.date(2026, 11, 5), "gpt-unheard-of", "key_x", None, input=1_000, output=10)
    _bill(store, openai=[stray], anthropic=[], billed={dt.date(2026, 11, 5): Decimal("0.50")})
    result = _result(store)
    [e] = result.explanations
    assert (e.kind, e.model, e.effect) == ("unrecorded", "gpt-unheard-of", None)
    assert "not priced" in e.detail
    [row] = result.day_rows()
    # nothing in the ledger, $0.50 billed, nothing priced to explain it: all unexplained
    assert (row.difference, row.unexplained) == (Decimal("-0.50"), Decimal("-0.50"))


def test_a_difference_no_explainer_accounts_for_is_shown(store: Store) -> None:  # noqa: F811
    store.insert_many([A1])
    _bill(
        store,
        openai=[],
        anthropic=seen([A1], "apikey_gateway"),
        billed={(dt.date(2026, 11, 4), "claude-sonnet-4-5"): Decimal("0.40")},
    )
    [row] = _result(store).day_rows()
    # 0.36825 - 0.40: tokens agree, dollars do not (price drift is another explainer's)
    assert (row.unexplained, row.kinds) == (Decimal("-0.03175"), ())


def test_a_day_without_a_bill_is_left_out_not_counted_as_agreeing(
    store: Store,  # noqa: F811
) -> None:
    store.insert_many([O1, A1])
    _bill(store, openai=seen([O1], "key_gateway"), anthropic=[], billed={})
    head = _result(store).headline()
    assert head.left_out == ("2026-11-03 openai", "2026-11-04 anthropic")
    assert (head.ledger, head.billed) == (Decimal(0), Decimal(0))
    assert head.error_percent is None


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with open_store(url) as opened:
        _planted(opened)
    return url


def _cli(url: str, *args: str) -> Any:
    base = ["reconcile", "--since", "2026-11-01", "--until", "2026-12-01", "--database", url]
    return CliRunner().invoke(app, [*base, *args], env={"COLUMNS": "80"})


def test_the_command_at_80_columns(ledger_url: str) -> None:
    result = _cli(ledger_url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert lines[0] == "2026-11-01 to 2026-11-30 (UTC): ledger vs billed -0.140%"
    text = result.output
    assert "unrecorded spend (the provider saw, the ledger did not): $0.09" in text
    assert "2026-11-03 openai" in text and "2026-11-04 anthropic" in text
    assert "not billed: openai/gpt-4o-mini 2026-11-03: $0.03 (exactly $0.0285)" in text
    assert "calls: c1, f1" in text
    assert "from key key_bypass (project proj_side): $0.09 (450,000 tokens)" in text
    assert "not billed: anthropic/claude-sonnet-4-5 2026-11-04: $0.06" in text
    assert "unexplained:" not in text.split("explanations:")[1]


def test_a_clean_month_at_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clean.sqlite3'}"
    with open_store(url) as opened:
        opened.insert_many([A1])
        _bill(
            opened,
            openai=[],
            anthropic=seen([A1], "apikey_gateway"),
            billed={(dt.date(2026, 11, 4), "claude-sonnet-4-5"): Decimal("0.36825")},
        )
    result = _cli(url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("ledger vs billed 0.000%")
    assert "explanations:" not in result.output


def test_the_command_as_json(ledger_url: str) -> None:
    result = _cli(ledger_url, "--json", "--by", "model")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["headline"] == {
        "ledger_usd": "1.07175",
        "billed_usd": "1.07325",
        "difference_usd": "-0.0015",
        "error_percent": "-0.140",
        "unexplained_usd": "0",
        "unrecorded_usd": "0.09",
        "left_out": [],
    }
    assert [(e["kind"], e["amount_usd"]) for e in data["explanations"]] == [
        ("not billed", "0.0285"),
        ("unrecorded", "0.09"),
        ("not billed", "0.06"),
    ]
    assert [r["label"] for r in data["rows"]] == [
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4o-mini",
    ]


def test_one_provider(ledger_url: str) -> None:
    result = _cli(ledger_url, "--json", "--provider", "anthropic")
    data = json.loads(result.output)
    # a1 + a2 = 0.36825 + 0.06 against 0.36825: +0.06 / 0.36825 x 100 = 16.2932... -> 16.293%
    assert data["headline"]["error_percent"] == "16.293"
    assert [r["label"] for r in data["rows"]] == ["2026-11-04 anthropic"]
    assert [e["call_ids"] for e in data["explanations"]] == [["a2"]]


def test_by_key_at_80_columns(ledger_url: str) -> None:
    result = _cli(ledger_url, "--by", "key")
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "openai key_bypass" in result.output


def test_no_provider_figures_says_how_to_get_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with open_store(url) as opened:
        opened.insert_many([O1])
    result = _cli(url)
    assert result.exit_code == 1
    assert "reconcile fetch" in result.output and "reconcile import" in result.output


def test_a_bad_view_is_refused(ledger_url: str) -> None:
    result = _cli(ledger_url, "--by", "week")
    assert result.exit_code == 2
    assert "--by" in result.output
