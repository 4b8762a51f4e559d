"""The prompt-caching recommender in the advisor, on ``advisor_synthetic.cacheable``.

Prices (built-in catalog, anthropic.yaml, claude-sonnet-4), USD per 1M tokens:
input 3.00, cache write (5 min) 3.75, cache write (1 h) 6.00, cache read 0.30,
output 15.00; batch: half of every rate.

A call: 2,500 input tokens (2,000 the system prompt) and 200 output tokens.
- as sent: 2,500 x 3 / 1M + 200 x 15 / 1M = 0.0075 + 0.003 = $0.0105
- reading the prefix: 2,000 x 0.30 / 1M + 500 x 3 / 1M + 0.003
  = 0.0006 + 0.0015 + 0.003 = $0.0051 (saves $0.0054)
- writing it (5 min): 2,000 x 3.75 / 1M + 0.0015 + 0.003 = 0.0075 + 0.0045 = $0.012
  (costs $0.0015 more); (1 h): 2,000 x 6 / 1M + 0.0045 = $0.0165 ($0.006 more)
A burst of 40 calls one minute apart (5 min TTL): 1 write + 39 reads.
The period is 15 days, so a month (30 days) is twice the period.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor_synthetic import SINCE, UNTIL, advice_of, cacheable, savings_by_kind_and_feature
from llmtally.advisor.batch import batch_recommender
from llmtally.advisor.prompt_cache import prompt_cache_recommender
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from test_ledger_support import db_url, pg_base_url  # noqa: F401

# A burst: 39 reads x $0.0054 - 1 write x $0.0015 = 0.2106 - 0.0015 = $0.2091;
# 15 bursts: $3.1365 in the period; x2 = $6.273 a month.
CACHE_MONTHLY = Decimal("6.273")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> str:  # noqa: F811
    """The ledger on SQLite and on PostgreSQL (the advisor's SQL runs on both)."""
    with open_store(db_url) as store:
        cacheable(catalog).store(store)
    return db_url


def test_a_repeated_system_prompt_one_minute_apart_is_cached(
    database: str, catalog: Catalog
) -> None:
    advice = advice_of(database, catalog)
    support = next(r for r in advice.recommendations if r.where["feature"] == "support")
    assert support.kind == "prompt_cache" and support.monthly_saving == CACHE_MONTHLY
    assert f"{support.monthly_saving:.2f}" == "6.27"
    # 15 bursts x 40 calls; all of them re-priced (the writes cost more, the reads less)
    assert support.calls == 600 and support.period_saving == Decimal("3.1365")
    assert support.where["fingerprint"] == "fp-support"
    assert support.evidence["ttl"] == "5m"  # 1 h: each write $0.006 more, reads the same
    assert support.evidence["hit_rate"] == "0.975"  # 39 reads x 15 / 600 calls
    assert '"cache_control": {"type": "ephemeral"}' in support.how_to_apply


def test_two_hours_apart_is_considered_not_recommended(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    assert ("prompt_cache", "digest") not in savings_by_kind_and_feature(advice)
    digest = [c for c in advice.considered if c.kind == "prompt_cache"]
    assert [c.where["feature"] for c in digest] == ["digest"]
    # 12 calls a day x 15 days = 180 calls, each a 5 min write ($0.0015 more):
    # -$0.27 in the period, -$0.54 a month (1 h writes would cost $0.006 more each)
    assert digest[0].monthly_saving == Decimal("-0.54")
    assert digest[0].reason.startswith("reused less often than the TTL: 180 writes and 0 reads")


def test_batchable_and_cacheable_is_priced_under_both(database: str, catalog: Catalog) -> None:
    found = savings_by_kind_and_feature(advice_of(database, catalog))
    assert found[("prompt_cache", "tagging")] == CACHE_MONTHLY
    # Batch on the cached usage: a burst costs 0.012 + 39 x 0.0051 = $0.2109,
    # batch halves it: saves $0.10545; x15 = $1.58175; x2 = $3.1635 a month.
    assert found[("batch", "tagging")] == Decimal("3.1635")
    # Together: the standard cost 600 x 0.0105 = $6.30 minus the cached, batched
    # cost 15 x 0.10545 = $1.58175 -> $4.71825; x2 = $9.4365 a month: not the sum
    # of each alone (batch alone: $6.30 / 2 = $3.15, x2 = $6.30; 6.273 + 6.30 = 12.573).
    assert found[("prompt_cache", "tagging")] + found[("batch", "tagging")] == Decimal("9.4365")
    # The streamed features are cached, never batched.
    assert ("batch", "support") not in found and ("batch", "digest") not in found


def test_the_order_does_not_change_the_combined_saving(database: str, catalog: Catalog) -> None:
    # Batch first: $6.30 a month, then caching on batched usage saves half of
    # $6.273 = $3.1365; together the same $9.4365.
    found = savings_by_kind_and_feature(
        advice_of(database, catalog, recommenders=[batch_recommender, prompt_cache_recommender])
    )
    assert found[("batch", "tagging")] == Decimal("6.30")
    assert found[("prompt_cache", "tagging")] == Decimal("3.1365")


def _cli(database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    args = ["advise", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    done = CliRunner().invoke(app, [*args, "--database", database, *extra])
    assert done.exit_code == 0, done.output
    return done.output


def test_cli_table_shows_prompt_caching(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = _cli(database, monkeypatch, tmp_path)
    assert max(len(line) for line in out.splitlines()) <= 80
    # 6.273 + 6.273 + 3.1635 = 15.7095
    for text in ("$6.27", "$3.16", "$15.71", "cache_control", "digest"):
        assert text in out


def test_cli_json_carries_prompt_caching(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = json.loads(_cli(database, monkeypatch, tmp_path, "--json"))
    assert data["monthly_saving"] == "15.7095"
    cached = [r for r in data["recommendations"] if r["kind"] == "prompt_cache"]
    assert sorted(r["where"]["feature"] for r in cached) == ["support", "tagging"]
    assert {r["monthly_saving"] for r in cached} == {"6.273"}
    assert cached[0]["where"]["fingerprint"].startswith("fp-")
    assert cached[0]["evidence"]["ttl"] == "5m" and len(cached[0]["call_ids"]) == 10
    digest = [c for c in data["considered"] if c["kind"] == "prompt_cache"]
    assert [(c["where"]["feature"], c["monthly_saving"]) for c in digest] == [("digest", "-0.54")]
