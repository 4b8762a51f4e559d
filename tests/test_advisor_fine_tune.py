"""The fine-tune recommender (advisor/fine_tune.py) on a synthetic ledger, on SQLite
and PostgreSQL, with the monthly savings worked out by hand.

Prices, USD per 1M tokens: gpt-4o 2.50 in / 10.00 out (catalog/data/openai.yaml);
fine-tuned gpt-4o-mini 0.30 in / 1.20 out, training 3.00
(advisor/fine_tune_prices.py). Training: 1,000 examples x 3 epochs. The period is
15 days: a month is twice the period.

- classify: 1,000 gpt-4o calls, one every 20 minutes (streamed), each 3,500 input
  tokens of which a 3,000-token system prompt (fingerprint fp-classify), 200 output.
  Now: 3,500 x 2.50/1M + 200 x 10/1M = $0.00875 + $0.002 = $0.01075 a call.
  Fine-tuned, without the instruction: 500 x 0.30/1M + 200 x 1.20/1M = $0.00015 +
  $0.00024 = $0.00039 a call. Saving 1,000 x $0.01036 = $10.36 over the period,
  $20.72/month. Training: 1,000 x (500 + 200) x 3 = 2,100,000 tokens x $3.00/1M
  = $6.30 once: pays back in 6.30 / 20.72 = 0.30 months; net of $6.30 / 3 = $2.10
  a month: $18.62/month ($9.31 over the period).
- rare (trap): 10 gpt-4o calls, one a day, a 100-token instruction (fp-rare),
  600 input, 200 output. Now 600 x 2.50/1M + 200 x 10/1M = $0.0035; fine-tuned
  $0.00039; saving 10 x $0.00311 = $0.0311, $0.0622/month. Training the same
  $6.30 (500 + 200 tokens an example): 6.30 / 0.0622 = 101.29 months; net
  $0.0622 - $2.10 = -$2.0378/month.
- support: claude-sonnet-4 with a 2,000-token system prompt: no fine-tune of
  that model is known: neither recommended nor considered.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from advisor_synthetic import SINCE, UNTIL, LedgerBuilder
from llmtally.advisor import Advice, advise
from llmtally.advisor.advise import RECOMMENDERS
from llmtally.advisor.fine_tune import fine_tune_recommender
from llmtally.advisor.period import load_period
from llmtally.advisor.self_host import self_host_recommender
from llmtally.advisor.working import Working
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.usage import Usage
from test_ledger_support import db_url, pg_base_url  # noqa: F401

CLASSIFY = Usage(input_tokens=3_500, output_tokens=200)
RARE = Usage(input_tokens=600, output_tokens=200)
SUPPORT = Usage(input_tokens=2_500, output_tokens=200)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _ledger(catalog: Catalog) -> LedgerBuilder:
    b = LedgerBuilder(catalog)
    for i in range(1_000):
        at = SINCE + dt.timedelta(minutes=20 * i)
        b.add("classify", "gpt-4o", at, CLASSIFY, streamed=True, system=("fp-classify", 3_000))
    for day in range(10):
        at = SINCE + dt.timedelta(days=day, hours=9)
        b.add("rare", "gpt-4o", at, RARE, streamed=True, system=("fp-rare", 100))
        b.add(
            "support", "claude-sonnet-4", at, SUPPORT,
            streamed=True, provider="anthropic", system=("fp-support", 2_000),
        )  # fmt: skip
    return b


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> str:  # noqa: F811
    with open_store(db_url) as store:
        _ledger(catalog).store(store)
    return db_url


def _advice(database: str, catalog: Catalog) -> Advice:
    with open_store(database) as store:
        return advise(store, catalog, SINCE, UNTIL, recommenders=[fine_tune_recommender])


def test_a_long_repeated_instruction_is_fine_tuned(database: str, catalog: Catalog) -> None:
    advice = _advice(database, catalog)
    [found] = advice.recommendations
    assert found.kind == "fine_tune"
    assert found.where == {
        "feature": "classify",
        "provider": "openai",
        "model": "gpt-4o",
        "fingerprint": "fp-classify",
    }
    # $10.36 - $6.30 / 3 / 2 = $10.36 - $1.05 = $9.31 over the period; x 2
    assert found.period_saving == Decimal("9.31")
    assert found.monthly_saving == Decimal("18.62")
    assert found.calls == 1_000
    assert found.evidence["fine_tuned"] == "gpt-4o-mini-2024-07-18"
    assert found.evidence["instruction_tokens"] == "3000"
    assert found.evidence["training_usd"] == "6.3"  # 2,100,000 x $3.00/1M
    assert found.evidence["gross_monthly_usd"] == "20.72"
    assert found.evidence["payback_months"] == "0.30"  # 6.30 / 20.72 = 0.304
    assert found.evidence["horizon_months"] == "3"
    assert "1,000 examples x 700 tokens" in found.assumptions[0]
    assert 'fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18"' in found.how_to_apply
    assert found.confidence.level == "low"


def test_the_cells_carry_the_fine_tuned_cost_and_the_training_share(
    database: str, catalog: Catalog
) -> None:
    with open_store(database) as store:
        period = load_period(store, SINCE, UNTIL)
        working = Working(period.cells, catalog)
        [candidate] = fine_tune_recommender(period, working).candidates
        flats = [change(working.state(cid)).flat for cid, change in candidate.parts]
    # 1,000 calls x $0.00039 = $0.39 fine-tuned, plus $6.30 / 3 months / 2 = $1.05
    assert sum(flat for flat in flats if flat is not None) == Decimal("1.44")
    assert len(flats) == len({cid for cid, _ in candidate.parts}) > 1  # one per day


def test_a_rare_short_instruction_is_considered(database: str, catalog: Catalog) -> None:
    advice = _advice(database, catalog)
    considered = {c.where["feature"]: c for c in advice.considered}
    rare = considered["rare"]
    assert rare.kind == "fine_tune"
    assert rare.reason == (
        "pays back in 101.29 months, beyond the 3-month horizon: training $6.30 once, "
        "saving $0.06/month"
    )
    # $0.0622 - $2.10
    assert rare.monthly_saving == Decimal("-2.0378")
    assert "support" not in considered
    assert [r.where["feature"] for r in advice.recommendations] == ["classify"]


def test_fine_tuning_comes_just_before_self_hosting() -> None:
    assert RECOMMENDERS[-2:] == [fine_tune_recommender, self_host_recommender]
