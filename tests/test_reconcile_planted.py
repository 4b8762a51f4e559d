"""``llmtally reconcile`` end to end with the price explainers wired in (issue 14's
must-show): synthetic provider reports (tests/reconcile_synthetic.py, the Anthropic
Admin API shapes cited there) built from a known ledger, with each kind of
difference planted: traffic on a key that bypassed every capture path, a price
change the catalog lacks, batch calls recorded as standard, a cut stream, a 1h
cache write priced as 5m. Each is found with its exact amount and nothing else;
a clean month reads 0.000%; ``--apply`` writes an override that, loaded back,
prices the drifted days as billed (0.000%).

Prices (the built-in catalog, USD per 1M tokens):
- anthropic/claude-sonnet-4-5: input 3.00, 5m cache write 3.75, 1h cache write
  6.00, output 15.00; batch half of each (input 1.50, output 7.50);
- anthropic/claude-haiku-4-5: input 1.00, output 5.00.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import Store, open_store
from llmtally.pricing import price_usage
from llmtally.reconcile.compare import Reconciliation, reconcile
from llmtally.reconcile.gather import provider_tier
from llmtally.reconcile.load import import_page
from llmtally.usage import Call, Usage
from reconcile_synthetic import Seen, anthropic_cost_page, anthropic_usage_page, seen
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CATALOG = Catalog.load()
SONNET, HAIKU = "claude-sonnet-4-5", "claude-haiku-4-5"
D = Decimal


def _day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


def _call(
    call_id: str,
    day: int,
    model: str,
    usage: Usage,
    status: int = 200,
    catalog: Catalog = CATALOG,
) -> Call:
    """A call priced the way the ledger prices it (``catalog``'s price of the day)."""
    started = dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC)
    priced = price_usage(usage, catalog, "anthropic", model, started)
    return Call(
        id=call_id,
        started_at=started,
        provider="anthropic",
        model_requested=model,
        model_served=None,
        endpoint="/v1/messages",
        status=status,
        latency_ms=100.0,
        usage=usage,
        cost=priced.cost,
        cost_error=priced.reason,
    )


# Every sonnet call stays under 200,000 input tokens (above, its long-context price applies).
# Day 2, sonnet: s1 recorded (180,000 x 3 = 0.54; 20,000 x 15 = 0.30 -> $0.84), and
# traffic on a key the ledger never saw (100,000 x 3 = 0.30; 10,000 x 15 = 0.15 -> $0.45)
S1 = _call("s1", 2, SONNET, Usage(input_tokens=180_000, output_tokens=20_000))
BYPASS = Seen(_day(2), SONNET, "key_bypass", "wrk_side", input=100_000, output=10_000)
# Day 3, sonnet: a batch call recorded as standard: 150,000 x 3 = 0.45; 20,000 x 15
# = 0.30 -> $0.75 in the ledger; billed at batch: 150,000 x 1.50 = 0.225; 20,000 x
# 7.50 = 0.15 -> $0.375
B1 = _call("b1", 3, SONNET, Usage(input_tokens=150_000, output_tokens=20_000))
# Day 4, sonnet: s2 (100,000 x 3 = 0.30; 10,000 x 15 = 0.15 -> $0.45) and a stream cut
# upstream, usage estimated (50,000 x 3 = 0.15; 20,000 x 15 = 0.30 -> $0.45), not billed
S2 = _call("s2", 4, SONNET, Usage(input_tokens=100_000, output_tokens=10_000))
CUT = _call(
    "cut1", 4, SONNET, Usage(input_tokens=50_000, output_tokens=20_000, source="estimated"), 502
)
# Day 5, sonnet: 80,000 cache-write tokens the ledger priced as 5m, billed as 1h.
# Ledger: uncached 70,000 x 3 = 0.21; 5m 80,000 x 3.75 = 0.30; output 10,000 x 15 =
# 0.15 -> $0.66. Bill: 0.21 + 1h 80,000 x 6 = 0.48 + 0.15 -> $0.84
W1 = _call(
    "w1",
    5,
    SONNET,
    Usage(input_tokens=150_000, cache_write_tokens=80_000, output_tokens=10_000),
)
# Haiku: day 10 at the catalog's price (1,000,000 x 1 = 1.00; 100,000 x 5 = 0.50 ->
# $1.50); from day 27 the bill is 10% higher, which the catalog lacks:
# day 27 the same tokens, billed 1.10 + 0.55 = $1.65; day 28 twice them (ledger 2.00 +
# 1.00 = $3.00), billed 2.20 + 1.10 = $3.30.
HAIKU_DAY = Usage(input_tokens=1_000_000, output_tokens=100_000)
HAIKU_TWICE = Usage(input_tokens=2_000_000, output_tokens=200_000)


def _haiku(catalog: Catalog = CATALOG) -> list[Call]:
    return [
        _call("h0", 10, HAIKU, HAIKU_DAY, catalog=catalog),
        _call("h1", 27, HAIKU, HAIKU_DAY, catalog=catalog),
        _call("h2", 28, HAIKU, HAIKU_TWICE, catalog=catalog),
    ]


BILLED = {
    (_day(2), SONNET): D("1.29"),  # s1 + bypass = 0.84 + 0.45
    (_day(3), SONNET): D("0.375"),  # b1 at batch
    (_day(4), SONNET): D("0.45"),  # s2 alone
    (_day(5), SONNET): D("0.84"),  # w1 with its writes at 1h
    (_day(10), HAIKU): D("1.50"),
    (_day(27), HAIKU): D("1.65"),
    (_day(28), HAIKU): D("3.30"),
}


def _provider_saw(haiku: list[Call]) -> list[Seen]:
    writes = [dataclasses.replace(s, cache_write_1h=s.cache_write) for s in seen([W1], "key_gw")]
    batch = [dataclasses.replace(s, service_tier="batch") for s in seen([B1], "key_gw")]
    return [*seen([S1, S2, *haiku], "key_gw"), BYPASS, *batch, *writes]


def _import(ledger: Store, saw: list[Seen], billed: dict[tuple[dt.date, str], Decimal]) -> None:
    import_page(ledger, "anthropic", "usage:messages", anthropic_usage_page(saw), "test")
    import_page(ledger, "anthropic", "costs", anthropic_cost_page(billed), "test")


def _planted(ledger: Store) -> None:
    ledger.insert_many([S1, B1, S2, CUT, W1, *_haiku()])
    _import(ledger, _provider_saw(_haiku()), BILLED)


def _result(ledger: Store, catalog: Catalog = CATALOG) -> Reconciliation:
    return reconcile(ledger, catalog, SINCE, UNTIL)


def test_the_ledger_prices_the_calls_as_the_comments_say() -> None:
    costs = [c.cost.total if c.cost else None for c in (S1, B1, S2, CUT, W1, *_haiku())]
    assert costs == [D("0.84"), D("0.75"), D("0.45"), D("0.45"), D("0.66")] + [
        D("1.50"),
        D("1.50"),
        D("3.00"),
    ]


def test_each_planted_difference_is_found_with_its_exact_amount_and_nothing_else(
    store: Store,  # noqa: F811
) -> None:
    _planted(store)
    result = _result(store)
    found = [(e.kind, e.day.day, e.model, e.effect) for e in result.explanations]
    # effect on ledger - billed: + the ledger holds more, - the bill does
    assert found == [
        ("unrecorded", 2, SONNET, D("-0.45")),  # key_bypass, at the standard price
        ("not billed", 4, SONNET, D("0.45")),  # the cut stream
        ("tier_mismatch", 3, SONNET, D("0.375")),  # 0.75 - 0.375
        ("cache_ttl_mismatch", 5, SONNET, D("-0.18")),  # 80,000 x (6 - 3.75) / 1M
        ("price_drift", 27, HAIKU, D("-0.15")),  # 1.50 x 10%
        ("price_drift", 28, HAIKU, D("-0.30")),  # 3.00 x 10%
    ]
    unrecorded, cut = result.explanations[0], result.explanations[1]
    assert [(s.key, s.project, s.usd) for s in unrecorded.sources] == [
        ("key_bypass", "wrk_side", D("0.45"))
    ]
    assert cut.call_ids == ("cut1",)
    assert "batch calls recorded as standard" in result.explanations[2].detail
    assert "1h cache writes priced as 5m: 80,000 tokens" in result.explanations[3].detail
    drift = result.explanations[4]
    assert "price drift from 2026-11-27" in drift.detail and "over 2 days" in drift.detail
    assert drift.extra["drift"]["scale"] == "1.1"  # (1.65 + 3.30) / (1.50 + 3.00)
    assert drift.extra["period_days"] == ["2026-11-27", "2026-11-28"]


def test_every_day_is_explained_to_the_cent_and_the_headline(store: Store) -> None:  # noqa: F811
    _planted(store)
    result = _result(store)
    rows = [(r.label, r.difference, r.unexplained) for r in result.day_rows()]
    assert rows == [
        ("2026-11-02 anthropic", D("-0.45"), 0),  # 0.84 - 1.29
        ("2026-11-03 anthropic", D("0.375"), 0),  # 0.75 - 0.375
        ("2026-11-04 anthropic", D("0.45"), 0),  # 0.45 + 0.45 - 0.45
        ("2026-11-05 anthropic", D("-0.18"), 0),  # 0.66 - 0.84
        ("2026-11-10 anthropic", D("0"), 0),
        ("2026-11-27 anthropic", D("-0.15"), 0),  # 1.50 - 1.65
        ("2026-11-28 anthropic", D("-0.30"), 0),  # 3.00 - 3.30
    ]
    head = result.headline()
    # ledger: sonnet 0.84 + 0.75 + 0.90 + 0.66 = 3.15, haiku 6.00 -> 9.15;
    # billed: 1.29 + 0.375 + 0.45 + 0.84 + 1.50 + 1.65 + 3.30 = 9.405;
    # -0.255 / 9.405 x 100 = -2.71132... -> -2.711%
    assert (head.ledger, head.billed, head.unexplained) == (D("9.15"), D("9.405"), 0)
    assert head.error_percent == D("-2.711")


def test_a_clean_month_reads_zero_with_every_explainer_wired(store: Store) -> None:  # noqa: F811
    store.insert_many([S1, S2, *_haiku()])
    _import(
        store,
        seen([S1, S2, *_haiku()], "key_gw"),
        {
            (_day(2), SONNET): D("0.84"),
            (_day(4), SONNET): D("0.45"),
            (_day(10), HAIKU): D("1.50"),
            (_day(27), HAIKU): D("1.50"),
            (_day(28), HAIKU): D("3.00"),
        },
    )
    result = _result(store)
    assert result.explanations == []
    assert f"{result.headline().error_percent:.3f}" == "0.000"


def test_bypassing_batch_traffic_is_priced_once_at_the_batch_rate(
    store: Store,  # noqa: F811
) -> None:
    store.insert_many([S1])
    batch = dataclasses.replace(BYPASS, service_tier="batch")
    # s1 0.84 + the bypass at batch: 100,000 x 1.50 = 0.15; 10,000 x 7.50 = 0.075 -> 1.065
    _import(store, [*seen([S1], "key_gw"), batch], {(_day(2), SONNET): D("1.065")})
    result = _result(store)
    found = [(e.kind, e.effect) for e in result.explanations]
    # unrecorded at standard (-0.45), then the tier explainer moves it to batch:
    # 100,000 x (1.50 - 3) + 10,000 x (7.50 - 15) = -0.15 - 0.075 -> billed 0.225 less
    assert found == [("unrecorded", D("-0.45")), ("tier_mismatch", D("0.225"))]
    [row] = result.day_rows()
    assert (row.difference, row.unexplained) == (D("-0.225"), 0)  # 0.84 - 1.065


def test_the_providers_tier_words() -> None:
    assert provider_tier(True, "default") == "batch"
    assert provider_tier(False, "default") == "standard"
    assert provider_tier(None, None) == "standard"
    assert provider_tier(False, "scale") == "priority"
    assert provider_tier(None, "Batch") == "batch"
    assert provider_tier(None, "mystery") == "mystery"  # left out of the price explainers


# -- the command line: the proposal, --apply, and the override loaded back -------------------


def _cli(url: str, prices: Path, *args: str, since: str = "2026-11-01") -> Any:
    base = ["reconcile", "--since", since, "--until", "2026-12-01", "--database", url]
    return CliRunner().invoke(app, [*base, "--prices-file", str(prices), *args])


def _ledger(tmp_path: Path, name: str, calls: list[Call]) -> str:
    url = f"sqlite:///{tmp_path / name}"
    with open_store(url) as opened:
        opened.insert_many(calls)
        _import(
            opened, seen(_haiku(), "key_gw"), {k: v for k, v in BILLED.items() if k[1] == HAIKU}
        )
    return url


def test_without_apply_the_entry_is_shown_for_review(tmp_path: Path) -> None:
    url = _ledger(tmp_path, "drift.sqlite3", _haiku())
    prices = tmp_path / "prices.yaml"
    result = _cli(url, prices)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "price_drift: anthropic/claude-haiku-4-5 2026-11-27: $0.15" in text
    assert "proposed catalog entry for anthropic/claude-haiku-4-5 from 2026-11-27:" in text
    assert "effective: '2026-11-27'" in text
    assert "  - input: '1.1'\n    output: '5.5'\n" in text  # 1.00 and 5.00 x 1.1
    assert "note: rate the bill implies on 2 day(s), 2026-11-27 to 2026-11-28" in text
    assert "--apply` writes it to" in text
    assert not prices.exists()


def test_apply_writes_an_override_that_prices_the_drifted_days_as_billed(
    tmp_path: Path,
) -> None:
    url = _ledger(tmp_path, "drift.sqlite3", _haiku())
    prices = tmp_path / "prices.yaml"
    result = _cli(url, prices, "--apply")
    assert result.exit_code == 0, result.output
    assert f"wrote anthropic/claude-haiku-4-5 from 2026-11-27 to {prices}" in result.output
    loaded = Catalog.load(override=prices)
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    rates = loaded.price_at("anthropic", HAIKU, at).rates
    assert (rates.input, rates.output) == (D("1.10"), D("5.50"))
    before = loaded.price_at("anthropic", HAIKU, at - dt.timedelta(days=1)).rates
    assert (before.input, before.output) == (D("1.00"), D("5.00"))  # history kept
    # The calls priced with the override (as llmtally records them from now on):
    # day 27 1.10 + 0.55 = 1.65, day 28 2.20 + 1.10 = 3.30, what the bill says.
    again = _ledger(tmp_path, "again.sqlite3", _haiku(loaded))
    second = _cli(again, prices, "--json", since="2026-11-27")
    data = json.loads(second.output)
    assert data["headline"]["error_percent"] == "0.000"
    assert (data["headline"]["ledger_usd"], data["headline"]["billed_usd"]) == ("4.95", "4.95")
    assert data["explanations"] == [] and data["proposals"] == []


def test_apply_twice_refuses_a_second_entry_of_the_same_date(tmp_path: Path) -> None:
    url = _ledger(tmp_path, "drift.sqlite3", _haiku())
    prices = tmp_path / "prices.yaml"
    assert _cli(url, prices, "--apply").exit_code == 0
    written = prices.read_text()
    # loaded back, the catalog has the price from 2026-11-27: the stored calls still carry
    # the cost they were recorded at, so the difference shows, but no second entry is made
    second = _cli(url, prices, "--apply", "--json")
    assert second.exit_code == 0, second.output
    data = json.loads(second.output)
    assert data["proposals"] == []
    assert prices.read_text() == written


def test_a_drift_of_one_rate_solved_from_the_per_kind_cost_lines(
    store: Store,  # noqa: F811
) -> None:
    store.insert_many(_haiku())
    # From day 27 input is billed at 1.10 per 1M, output still at 5.00:
    # day 27: 1,000,000 x 1.10 = 1.10 and 100,000 x 5 = 0.50; day 28 twice that
    lines = {
        _day(10): ("1.00", "0.50"),
        _day(27): ("1.10", "0.50"),
        _day(28): ("2.20", "1.00"),
    }
    billed: dict[tuple[dt.date, str], Any] = {
        (day, HAIKU): {"uncached_input_tokens": D(i), "output_tokens": D(o)}
        for day, (i, o) in lines.items()
    }
    _import(store, seen(_haiku(), "key_gw"), billed)
    result = _result(store)
    found = [(e.kind, e.day.day, e.effect) for e in result.explanations]
    # the input tokens x 0.10 / 1M: 1,000,000 -> 0.10, 2,000,000 -> 0.20
    assert found == [("price_drift", 27, D("-0.10")), ("price_drift", 28, D("-0.20"))]
    drift = result.explanations[0].extra["drift"]
    assert drift["per_kind_lines"] is True
    assert drift["billed_rates"] == {"input": "1.1", "output": "5"}
    assert [r.unexplained for r in result.day_rows()] == [0, 0, 0]


def test_under_a_cent_is_rounding(store: Store) -> None:  # noqa: F811
    store.insert_many([S1])
    # s1 is $0.84 in the ledger; the bill says $0.845: half a cent, tokens the same
    _import(store, seen([S1], "key_gw"), {(_day(2), SONNET): D("0.845")})
    result = _result(store)
    assert [(e.kind, e.effect) for e in result.explanations] == [("rounding", D("-0.005"))]
    assert [r.unexplained for r in result.day_rows()] == [0]


def test_a_tier_the_catalog_does_not_know_is_left_unexplained(store: Store) -> None:  # noqa: F811
    store.insert_many([B1])
    odd = [dataclasses.replace(s, service_tier="mystery") for s in seen([B1], "key_gw")]
    _import(store, odd, {(_day(3), SONNET): D("0.375")})
    result = _result(store)
    assert result.explanations == []
    [row] = result.day_rows()
    assert row.unexplained == D("0.375")  # 0.75 - 0.375: not guessed at
