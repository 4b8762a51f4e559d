"""The self-host recommender (advisor/self_host.py) on a synthetic ledger, on SQLite
and PostgreSQL, with the monthly saving worked out by hand from the data files.

The period is the day 2026-11-02 (UTC): a month is 30 such days. Instance
figures: selfhost/data/instances.yaml; model shapes: selfhost/data/models.yaml;
API prices: catalog/data/*.yaml.

Planted: mistral ``mixtral-8x7b`` ($0.70 in / $0.70 out per 1M, mistral.yaml),
which serves the open Mixtral 8x7B weights (models.yaml: ``mixtral-8x7b``):
19,200 calls of 6,000 input + 1,000 output tokens, 12,800 of feature rag (one
every 6.75 s) and 6,400 of feature search (one every 13.5 s).

- Tokens a month: 19,200 x 7,000 x 30 = 4,032,000,000 (of them output
  19,200 x 1,000 x 30 = 576,000,000).
- API: 19,200 x 7,000 x $0.70/1M = $94.08 over the period; x 30 = $2,822.40/month.
- Mixtral at int8 (sizing.py, context 8,192, 16 sequences): weights 46.7e9 x 1 B
  = 46.7 GB; KV 32 layers x (2 x 8 x 128) values x 2 B = 131,072 B/token x 8,192
  x 16 = 17.179869184 GB; overhead 10% of weights 4.67 GB; total 68.549869184 GB
  <= 80 x 0.9 = 72: one A100 80GB. The cheapest instance per hour holding it is
  Azure Standard_NC24ads_A100_v4 (1 x A100 80GB PCIe, $3.673/h; the 40 GB and
  24 GB GPUs need 2 and 4 GPUs on dearer instances). At fp16 (93.4 + 17.18 +
  9.34 = 119.92 GB: two 80 GB GPUs) the cheapest is Standard_NC96ads_A100_v4 at
  $14.692/h: int8 is cheaper.
- Throughput (throughput.py), memory-bound: (12.9 GB active + 17.179869184 GB KV)
  / (1,935 GB/s x 0.6 = 1,161 GB/s) = 0.0259086 s a step; 16 / 0.0259086 = 617.56
  tokens/s; x 3,600 s x 720 h x 0.5 busy = 800,352,417 output tokens a month >=
  576,000,000: one instance.
- One instance: $3.673 x 720 h = $2,644.56/month; over the period / 30 = $88.152.
- Break-even: $2,644.56 / ($0.70/1M) = 3,777,942,857 tokens/month; the traffic
  is 4,032,000,000 (x1.07).
- Saving: $94.08 - $88.152 = $5.928 over the period; x 30 = $177.84/month.

Traps:
- together ``mistralai/Mixtral-8x7B-Instruct-v0.1`` ($0.90 / $0.90), 100 calls of
  6,000 + 1,000: the same instance; break-even $2,644.56 / ($0.90/1M) =
  2,938,400,000 tokens/month; the period had 100 x 7,000 x 30 = 21,000,000.
- groq ``llama-3.1-8b-instant`` ($0.05 in / $0.08 out), 100 calls of 3,000 +
  1,000: $0.00023 a call for 4,000 tokens = $0.0575 per 1M; Llama 3.1 8B at fp16
  (16.06 + 17.179869184 + 1.606 = 34.85 GB) on Standard_NC24ads_A100_v4 ($3.673/h,
  the same price at int8: the tie keeps fp16); break-even $2,644.56 / $0.0575 per
  1M = 45,992,347,826 tokens/month; one instance makes 16 x 1,161 /
  33.239869184 = 558.85 tokens/s x 1,296,000 = 724,265,666 output tokens a month,
  x 4 tokens per output token = 2,897,062,665 tokens: it never pays off.
- together ``deepseek-ai/DeepSeek-V3``, 10 calls: 671e9 parameters x 2 B = 1,342 GB
  at fp16, + KV 61 layers x 576 values x 2 B = 70,272 B/token x 8,192 x 16 =
  9.2 GB, + 134.2 GB overhead = 1,485.4 GB (int8: 671 + 9.2 + 67.1 = 747.3 GB),
  above the 8 x 80 GB = 640 GB of the largest instance: fits on no instance.
- openai ``gpt-4o-mini``: proprietary, no open weights to serve: not a candidate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from advisor_synthetic import LedgerBuilder
from llmtally.advisor import Advice, advise
from llmtally.advisor.advise import RECOMMENDERS
from llmtally.advisor.period import load_period
from llmtally.advisor.self_host import self_host_recommender
from llmtally.advisor.working import Working
from llmtally.catalog import Catalog
from llmtally.ledger import open_store
from llmtally.usage import Usage
from test_ledger_support import BACKENDS, pg_base_url, pg_schema  # noqa: F401

SINCE = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
UNTIL = SINCE + dt.timedelta(days=1)
RAG = Usage(input_tokens=6_000, output_tokens=1_000)
CHAT = Usage(input_tokens=3_000, output_tokens=1_000)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def ledger(catalog: Catalog) -> LedgerBuilder:
    """The calls above, priced once for every test and database."""
    b = LedgerBuilder(catalog)
    for i in range(12_800):
        at = SINCE + dt.timedelta(seconds=6.75 * i)
        b.add("rag", "mixtral-8x7b", at, RAG, provider="mistral", streamed=True)
    for i in range(6_400):
        at = SINCE + dt.timedelta(seconds=13.5 * i)
        b.add("search", "mixtral-8x7b", at, RAG, provider="mistral", streamed=True)
    for i in range(100):
        at = SINCE + dt.timedelta(minutes=10 * i)
        b.add("summary", "mistralai/Mixtral-8x7B-Instruct-v0.1", at, RAG, provider="together")
        b.add("chat", "llama-3.1-8b-instant", at, CHAT, provider="groq")
        b.add("tagging", "gpt-4o-mini", at, CHAT)
    for i in range(10):
        at = SINCE + dt.timedelta(hours=i)
        b.add("extract", "deepseek-ai/DeepSeek-V3", at, RAG, provider="together")
    return b


@pytest.fixture(scope="module", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, ledger: LedgerBuilder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The ledger on SQLite and on PostgreSQL, written once per module (19,500 calls)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('self_host') / 'ledger.sqlite3'}"
        else:
            url = stack.enter_context(pg_schema(request.getfixturevalue("pg_base_url")))
        with open_store(url) as store:
            ledger.store(store)
        yield url


def _advice(database: str, catalog: Catalog) -> Advice:
    with open_store(database) as store:
        return advise(store, catalog, SINCE, UNTIL, recommenders=[self_host_recommender])


def test_a_model_above_break_even_is_self_hosted(database: str, catalog: Catalog) -> None:
    advice = _advice(database, catalog)
    [found] = advice.recommendations
    assert found.kind == "self_host"
    assert found.where == {"feature": "rag, search", "provider": "mistral", "model": "mixtral-8x7b"}
    # $94.08 API - $88.152 instance share over the period = $5.928; x 30
    assert found.period_saving == Decimal("5.928")
    assert found.monthly_saving == Decimal("177.84")
    assert found.calls == 19_200
    evidence = found.evidence
    assert evidence["open_model"] == "mixtral-8x7b"
    assert evidence["instance"] == "Standard_NC24ads_A100_v4"
    assert evidence["count"] == "1"
    assert evidence["quantization"] == "int8"
    assert evidence["utilization"] == "0.5"
    assert evidence["instances_monthly_usd"] == "2644.56"  # $3.673 x 720 h
    assert evidence["tokens_per_month"] == "4,032,000,000"
    assert evidence["break_even_tokens_per_month"] == "3,777,942,857"
    assert evidence["above_break_even"] == "x1.07"  # 4,032,000,000 / 3,777,942,857
    assert "vllm serve mistralai/Mixtral-8x7B-Instruct-v0.1" in found.how_to_apply
    assert "--quantization fp8" in found.how_to_apply
    assert any("1 x Standard_NC24ads_A100_v4" in line for line in found.assumptions)
    assert found.confidence.level == "medium"  # 6 input tokens per output token


def test_the_instances_cost_is_split_over_the_cells_exactly(
    database: str, catalog: Catalog
) -> None:
    """The model's calls are two cells (features rag and search), of 12,800 and
    6,400 calls of 7,000 tokens."""
    with open_store(database) as store:
        period = load_period(store, SINCE, UNTIL)
        working = Working(period.cells, catalog)
        [candidate] = self_host_recommender(period, working).candidates
        states = [change(working.state(cid)) for cid, change in candidate.parts]
    flats = [state.flat for state in states]
    # $88.152 x 12,800 / 19,200 = $58.768; the last cell: $88.152 - $58.768 = $29.384
    assert flats == [Decimal("58.768"), Decimal("29.384")]
    assert sum(flat for flat in flats if flat is not None) == Decimal("88.152")


def test_below_break_even_and_never_paying_are_considered(database: str, catalog: Catalog) -> None:
    advice = _advice(database, catalog)
    considered = {c.where["model"]: c for c in advice.considered if c.kind == "self_host"}
    summary = considered["mistralai/Mixtral-8x7B-Instruct-v0.1"]
    assert summary.reason == (
        "pays off above 2,938,400,000 tokens/month; the period had 21,000,000"
    )
    # API 100 x 7,000 x $0.90/1M = $0.63 x 30 = $18.90 - $2,644.56 = -$2,625.66
    assert summary.monthly_saving == Decimal("-2625.66")
    chat = considered["llama-3.1-8b-instant"]
    assert chat.reason == (
        "never pays off at 50% busy: one Standard_NC24ads_A100_v4 at fp16 serves at most "
        "2,897,062,665 tokens/month at this traffic's mix, below the break-even of "
        "45,992,347,826 tokens/month"
    )
    assert considered["deepseek-ai/DeepSeek-V3"].reason.startswith(
        "fits on no instance: deepseek-v3 at fp16 needs 1485.4 GB (weights 1342.0 + "
        "KV cache 9.2 + overhead 134.2)"
    )
    assert "int8 needs 747.3 GB" in considered["deepseek-ai/DeepSeek-V3"].reason
    assert "gpt-4o-mini" not in considered
    assert all(r.where["model"] != "gpt-4o-mini" for r in advice.recommendations)


def test_self_hosting_is_the_last_recommender() -> None:
    assert RECOMMENDERS[-1] is self_host_recommender
