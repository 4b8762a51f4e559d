"""Price explainers for reconciliation (issue 14): planted differences, each
found with its hand-worked dollar amount and nothing else.

Real catalog prices (src/llmtally/catalog/data): gpt-4o from 2024-10-02 $2.50
input / $1.25 cached / $10 output per 1M, batch $1.25 / $5; claude-sonnet-4
$3 input / $3.75 5m write / $6 1h write / $0.30 read / $15 output, batch x0.5.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from llmtally.catalog.catalog import Catalog
from llmtally.catalog.loader import CatalogFileError
from llmtally.catalog.overrides import read_override_file
from llmtally.catalog.price import Price
from llmtally.reconcile.explain_price import (
    DayFigures,
    Explanation,
    Tokens,
    explain_cache_ttl,
    explain_drift,
    explain_prices,
    explain_rounding,
    explain_tiers,
    line_kind,
    propose_entry,
    write_proposal,
)

D = Decimal


def day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def gpt4o(catalog: Catalog) -> Price:
    price = catalog.price_at("openai", "gpt-4o", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    assert price.rates.input == D("2.50") and price.rates.output == D("10.00")
    return price


@pytest.fixture(scope="module")
def sonnet(catalog: Catalog) -> Price:
    price = catalog.price_at(
        "anthropic", "claude-sonnet-4", dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    )
    assert (price.rates.input, price.rates.cache_write, price.rates.cache_write_1h) == (
        D("3.00"),
        D("3.75"),
        D("6.00"),
    )
    return price


# 1M input + 200K output of gpt-4o: 1 x 2.50 + 0.2 x 10 = $4.50 at the catalog's price.
PLAIN = Tokens(uncached_input=1_000_000, output=200_000)


def row(
    n: int,
    price: Price,
    ledger: Tokens | dict[str, Tokens],
    ledger_cost: str,
    billed: str,
    usage: Tokens | dict[str, Tokens] | None = None,
    lines: dict[str, str] | None = None,
) -> DayFigures:
    mine = ledger if isinstance(ledger, dict) else {"standard": ledger}
    theirs = mine if usage is None else usage if isinstance(usage, dict) else {"standard": usage}
    return DayFigures(
        day=day(n),
        provider=price.provider,
        model=price.model,
        price=price,
        ledger=mine,  # type: ignore[arg-type]
        ledger_cost=D(ledger_cost),
        usage=theirs,  # type: ignore[arg-type]
        billed=D(billed),
        billed_lines={k: D(v) for k, v in (lines or {}).items()},  # type: ignore[misc]
    )


def summary(found: tuple[Explanation, ...]) -> list[tuple[str, str, Decimal, int, tuple[int, ...]]]:
    return [(e.kind, e.model, e.dollars, e.tokens, tuple(d.day for d in e.days)) for e in found]


def test_clean_month_has_nothing_to_explain(gpt4o: Price) -> None:
    rows = [row(n, gpt4o, PLAIN, "4.50", "4.50") for n in range(1, 31)]
    result = explain_prices(rows)
    assert result.explanations == ()
    assert all(r.gap == 0 for r in result.residual)


def drift_rows(gpt4o: Price) -> list[DayFigures]:
    # Nov 1-3 billed at the catalog's $4.50; from Nov 4 the bill is $2.75 / $11.00:
    # 1 x 2.75 + 0.2 x 11.00 = 2.75 + 2.20 = $4.95 a day, $0.45 over the ledger.
    return [row(n, gpt4o, PLAIN, "4.50", "4.50" if n <= 3 else "4.95") for n in range(1, 7)]


def test_price_drift_found_with_the_rate_the_bill_implies(gpt4o: Price) -> None:
    result = explain_prices(drift_rows(gpt4o))
    # 3 days x $0.45 = $1.35; 3 x 1.2M tokens = 3,600,000.
    assert summary(result.explanations) == [
        ("price_drift", "gpt-4o", D("1.35"), 3_600_000, (4, 5, 6))
    ]
    drift = result.explanations[0].drift
    assert drift is not None
    assert drift.effective == day(4)
    # One billed total: 4.95 / 4.50 = 1.1, the catalog's ratios kept.
    assert drift.scale == D("1.1") and not drift.per_kind_lines
    assert drift.billed == {"input": D("2.75"), "output": D("11.00")}
    assert drift.catalog == {"input": D("2.50"), "output": D("10.00")}
    assert "assuming the catalog's ratios" in result.explanations[0].detail
    assert all(r.gap == 0 for r in result.residual)


def test_one_odd_day_is_not_drift(gpt4o: Price) -> None:
    # Only the last day is over, by $0.45: a drift needs two days or more.
    rows = [row(n, gpt4o, PLAIN, "4.50", "4.95" if n == 3 else "4.50") for n in range(1, 4)]
    result = explain_prices(rows)
    assert result.explanations == ()
    assert [r.gap for r in result.residual] == [D(0), D(0), D("0.45")]


def test_drift_from_per_kind_cost_lines(sonnet: Price, catalog: Catalog) -> None:
    # Input went $3.00 -> $3.30 from Nov 3, output stayed $15 (a common factor
    # would be wrong). A day: 2M uncached input + 100K output.
    # Catalog: 2 x 3.00 + 0.1 x 15 = 6.00 + 1.50 = $7.50; billed from Nov 3:
    # 2 x 3.30 = 6.60 + 1.50 = $8.10, the lines saying so.
    tokens = Tokens(uncached_input=2_000_000, output=100_000)
    rows = [
        row(
            n,
            sonnet,
            tokens,
            "7.50",
            "7.50" if n < 3 else "8.10",
            lines={"uncached_input": "6.00" if n < 3 else "6.60", "output": "1.50"},
        )
        for n in range(1, 5)
    ]
    result = explain_drift(rows)
    # 2 days x 2M x (3.30 - 3.00) / 1M = 2 x 0.60 = $1.20.
    assert summary(result.explanations) == [
        ("price_drift", "claude-sonnet-4", D("1.20"), 4_200_000, (3, 4))
    ]
    drift = result.explanations[0].drift
    assert drift is not None and drift.per_kind_lines
    assert drift.billed == {"input": D("3.30"), "output": D("15.00")}
    assert drift.scale == D("1.08")  # 16.20 / 15.00
    assert "per-kind cost lines" in result.explanations[0].detail
    assert all(r.gap == 0 for r in result.residual)
    entry = propose_entry(result.explanations[0], catalog).entry
    # Input x1.1, output as it was; 5m writes were not billed, so they stay $3.75;
    # the cliff's input scales with input: 6.00 x 1.1 = 6.60, its output stays 22.50.
    assert (entry.input, entry.output, entry.cache_write) == (D("3.3"), D("15"), D("3.75"))
    cliff = entry.long_context[0]
    assert (cliff.input, cliff.output) == (D("6.6"), D("22.50"))


def test_proposed_entry_written_and_read_back_by_the_catalog(
    gpt4o: Price, catalog: Catalog, tmp_path: Path
) -> None:
    drift = explain_prices(drift_rows(gpt4o)).explanations[0]
    proposal = propose_entry(drift, catalog)
    entry = proposal.entry
    assert (proposal.provider, proposal.model_id, entry.effective) == ("openai", "gpt-4o", day(4))
    # Every token rate x 1.1: cached 1.25 -> 1.375; batch 1.25/5 -> 1.375/5.50;
    # priority 4.25/2.125/17 -> 4.675/2.3375/18.70.
    assert (entry.input, entry.output, entry.cache_read) == (D("2.75"), D("11"), D("1.375"))
    assert entry.batch is not None and (entry.batch.input, entry.batch.output) == (
        D("1.375"),
        D("5.5"),
    )
    assert entry.priority is not None and entry.priority.cache_read == D("2.3375")
    assert "effective: '2026-11-04'" in proposal.yaml_text()

    path = tmp_path / "prices.yaml"
    existing = (
        "# mine\n"
        "discounts:\n"
        '  - {provider: anthropic, models: ["claude-sonnet-4"], factor: "0.9"}\n'
        "providers:\n"
        "  - provider: inhouse\n"
        "    name: In-house\n"
        "    pricing_url: https://wiki.example/llm-prices\n"
        "    models:\n"
        "      - id: tuned-7b\n"
        "        prices:\n"
        '          - {effective: 2026-01-01, source: "https://wiki.example", '
        'input: "0.20", output: "0.40"}\n'
    )
    path.write_text(existing)
    write_proposal(path, proposal)
    assert (tmp_path / "prices.yaml.bak").read_text() == existing
    spec, _ = read_override_file(path)
    assert [d.provider for d in spec.discounts] == ["anthropic"]
    assert [p.provider for p in spec.providers] == ["inhouse", "openai"]

    loaded = Catalog.load(override=path)
    at = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    new = loaded.price_at("openai", "gpt-4o", at)
    assert (new.rates.input, new.rates.output, new.effective) == (D("2.75"), D("11"), day(4))
    before = loaded.price_at("openai", "gpt-4o", at - dt.timedelta(days=1))
    assert (before.rates.input, before.rates.output) == (D("2.50"), D("10.00"))
    # Entries already there still apply: 3.00 x 0.9 and the in-house model.
    assert loaded.price_at("anthropic", "claude-sonnet-4", at).rates.input == D("2.700")
    assert loaded.price_at("inhouse", "tuned-7b", at).rates.output == D("0.40")

    # Applying it again is refused, not a second entry of the same date.
    with pytest.raises(ValueError, match="already has a price from 2026-11-04"):
        write_proposal(path, proposal)


def test_write_refuses_a_file_it_cannot_parse(
    gpt4o: Price, catalog: Catalog, tmp_path: Path
) -> None:
    proposal = propose_entry(explain_prices(drift_rows(gpt4o)).explanations[0], catalog)
    path = tmp_path / "prices.yaml"
    for broken in ("discounts: [unclosed\n", "discounts:\n  - {provider: openai}\n"):
        path.write_text(broken)
        with pytest.raises(CatalogFileError):
            write_proposal(path, proposal)
        assert path.read_text() == broken
        assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.yaml"]


def test_write_creates_a_missing_file(gpt4o: Price, catalog: Catalog, tmp_path: Path) -> None:
    proposal = propose_entry(explain_prices(drift_rows(gpt4o)).explanations[0], catalog)
    path = tmp_path / "prices.yaml"
    write_proposal(path, proposal)
    price = Catalog.load(override=path).price_at("openai", "gpt-4o", dt.datetime(2026, 11, 5))
    assert price.rates.output == D("11")


def batch_rows(gpt4o: Price) -> list[DayFigures]:
    # Per day the provider reports 1M standard input, and 2M input + 500K output
    # under batch=true; the ledger has all of it at standard.
    # Ledger: 3 x 2.50 + 0.5 x 10 = 7.50 + 5.00 = $12.50.
    # Billed: 1 x 2.50 + 2 x 1.25 + 0.5 x 5.00 = 2.50 + 2.50 + 2.50 = $7.50.
    ledger = Tokens(uncached_input=3_000_000, output=500_000)
    usage = {
        "standard": Tokens(uncached_input=1_000_000),
        "batch": Tokens(uncached_input=2_000_000, output=500_000),
    }
    return [row(n, gpt4o, ledger, "12.50", "7.50", usage=usage) for n in (1, 2)]


def test_batch_recorded_as_standard(gpt4o: Price) -> None:
    result = explain_tiers(batch_rows(gpt4o))
    # Per day 2M x (1.25 - 2.50) + 0.5M x (5 - 10) = -2.50 - 2.50 = -$5.00; 2 days -$10.00.
    assert summary(result.explanations) == [
        ("tier_mismatch", "gpt-4o", D("-10.00"), 5_000_000, (1, 2))
    ]
    assert result.explanations[0].detail.startswith("batch calls recorded as standard")
    assert all(r.gap == 0 for r in result.residual)
    assert summary(explain_prices(batch_rows(gpt4o)).explanations) == summary(result.explanations)


def ttl_rows(sonnet: Price) -> list[DayFigures]:
    # The provider reports 200K 5m writes and 400K 1h writes; the ledger has 600K 5m.
    # Both: 100K uncached input, 50K output.
    # Ledger: 0.1 x 3 + 0.6 x 3.75 + 0.05 x 15 = 0.30 + 2.25 + 0.75 = $3.30.
    # Billed: 0.30 + 0.2 x 3.75 + 0.4 x 6 + 0.75 = 0.30 + 0.75 + 2.40 + 0.75 = $4.20.
    ledger = Tokens(uncached_input=100_000, cache_write_5m=600_000, output=50_000)
    usage = Tokens(
        uncached_input=100_000, cache_write_5m=200_000, cache_write_1h=400_000, output=50_000
    )
    return [row(7, sonnet, ledger, "3.30", "4.20", usage=usage)]


def test_1h_cache_write_priced_as_5m(sonnet: Price) -> None:
    result = explain_cache_ttl(ttl_rows(sonnet))
    # 400K x (6.00 - 3.75) / 1M = 0.4 x 2.25 = $0.90.
    assert summary(result.explanations) == [
        ("cache_ttl_mismatch", "claude-sonnet-4", D("0.90"), 400_000, (7,))
    ]
    assert result.explanations[0].detail.startswith("1h cache writes priced as 5m")
    assert result.residual[0].gap == 0
    assert summary(explain_prices(ttl_rows(sonnet)).explanations) == summary(result.explanations)


def test_rounding_under_a_cent(gpt4o: Price) -> None:
    # +$0.004 on Nov 1, -$0.003 on Nov 2: $0.001 in all; Nov 3 is a cent over,
    # which is not rounding (and one day is not drift): left unexplained.
    rows = [
        row(1, gpt4o, PLAIN, "4.50", "4.504"),
        row(2, gpt4o, PLAIN, "4.50", "4.497"),
        row(3, gpt4o, PLAIN, "4.50", "4.51"),
    ]
    result = explain_rounding(rows)
    assert summary(result.explanations) == [("rounding", "gpt-4o", D("0.001"), 0, (1, 2))]
    assert [r.gap for r in result.residual] == [D(0), D(0), D("0.01")]
    assert summary(explain_prices(rows).explanations) == summary(result.explanations)


def test_all_planted_at_once_each_counted_once(gpt4o: Price, sonnet: Price) -> None:
    # gpt-4o drifts from Nov 4 as above, and on Nov 5 also sent 1M input by batch
    # that the ledger has at standard: ledger 4.50 + 2.50 = $7.00; billed at the
    # drifted rates 4.95 + 1 x 1.25 x 1.1 = 4.95 + 1.375 = $6.325.
    # Tiers first: 1M x (1.25 - 2.50) = -$1.25, leaving 6.325 - 5.75 = $0.575;
    # drift: 0.45 + (1.1 - 1) x 5.75 + 0.45 = 0.45 + 0.575 + 0.45 = $1.475.
    rows = drift_rows(gpt4o)
    rows[4] = row(
        5,
        gpt4o,
        Tokens(uncached_input=2_000_000, output=200_000),
        "7.00",
        "6.325",
        usage={"standard": PLAIN, "batch": Tokens(uncached_input=1_000_000)},
    )
    result = explain_prices([*rows, *ttl_rows(sonnet)])
    assert summary(result.explanations) == [
        ("tier_mismatch", "gpt-4o", D("-1.25"), 1_000_000, (5,)),
        ("cache_ttl_mismatch", "claude-sonnet-4", D("0.90"), 400_000, (7,)),
        # 3 x 1.2M + 1M batch tokens = 4,600,000.
        ("price_drift", "gpt-4o", D("1.475"), 4_600_000, (4, 5, 6)),
    ]
    assert all(r.gap == 0 for r in result.residual)


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service tier"):
        DayFigures(
            day=day(1),
            provider="openai",
            model="gpt-4o",
            price=None,  # type: ignore[arg-type]
            ledger={"turbo": Tokens()},  # type: ignore[dict-item]
            ledger_cost=D(0),
            usage={},
            billed=D(0),
        )


def test_a_negotiated_discount_is_not_applied_twice(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text('discounts:\n  - {provider: openai, models: ["gpt-4o*"], factor: "0.8"}\n')
    discounted = Catalog.load(override=path)
    price = discounted.price_at("openai", "gpt-4o", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    # The ledger: 1 x (2.50 x 0.8) + 0.2 x (10 x 0.8) = 2.00 + 1.60 = $3.60; the bill
    # from Nov 2: 1 x 2.20 + 0.2 x 8.80 = 2.20 + 1.76 = $3.96 (x1.1).
    rows = [row(n, price, PLAIN, "3.60", "3.60" if n == 1 else "3.96") for n in (1, 2, 3)]
    found = explain_prices(rows).explanations
    # 2 days x $0.36.
    assert summary(found) == [("price_drift", "gpt-4o", D("0.72"), 2_400_000, (2, 3))]
    proposal = propose_entry(found[0], discounted)
    # The list price the discount applies to: 2.50 x 1.1, 10 x 1.1.
    assert (proposal.entry.input, proposal.entry.output) == (D("2.75"), D("11"))
    write_proposal(path, proposal)
    again = Catalog.load(override=path).price_at("openai", "gpt-4o", dt.datetime(2026, 11, 2))
    # 2.75 x 0.8 = 2.20, 11 x 0.8 = 8.80: what the bill said.
    assert (again.rates.input, again.rates.output) == (D("2.20"), D("8.80"))


def test_cost_lines_named_by_kind() -> None:
    # Line names as in tests/fixtures/reconcile (OpenAI Costs line_item, Anthropic token_type).
    assert line_kind("openai", "gpt-4o-2024-08-06, input", None) == "uncached_input"
    assert line_kind("openai", "gpt-4o-2024-08-06, cached input", None) == "cache_read"
    assert line_kind("openai", "gpt-4o-2024-08-06, output", None) == "output"
    assert line_kind("openai", "web search tool calls", None) is None
    assert line_kind("anthropic", None, "uncached_input_tokens") == "uncached_input"
    assert line_kind("anthropic", None, "cache_creation.ephemeral_1h_input_tokens") == (
        "cache_write_1h"
    )
    assert line_kind("anthropic", "Claude Sonnet 4 Usage", None) is None


def test_priority_recorded_as_standard_and_a_tier_the_catalog_lacks(
    gpt4o: Price, sonnet: Price
) -> None:
    # gpt-4o: 1M input the provider billed at priority ($4.25) that the ledger has
    # at standard ($2.50): +$1.75. claude-sonnet-4 has no priority price in the
    # catalog: its $0.50 is left as it was, not guessed.
    tokens = Tokens(uncached_input=1_000_000)
    rows = [
        row(1, gpt4o, tokens, "2.50", "4.25", usage={"priority": tokens}),
        row(1, sonnet, tokens, "3.00", "3.50", usage={"priority": tokens}),
    ]
    result = explain_prices(rows)
    assert summary(result.explanations) == [("tier_mismatch", "gpt-4o", D("1.75"), 1_000_000, (1,))]
    assert result.explanations[0].detail.startswith("priority calls recorded as standard")
    assert [r.gap for r in result.residual] == [D(0), D("0.50")]
