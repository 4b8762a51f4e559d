"""The trim_prompt recommender (advisor/trim.py) on a synthetic ledger, on SQLite
and PostgreSQL: each planted opportunity with its hand-computed monthly saving,
the traps considered with their reason, not recommended.

gpt-4o (openai.yaml, from 2024-10-02), USD per 1M tokens: input 2.50, cache read
1.25, output 10.00; batch 1.25 in / 5.00 out. The period is 15 days: a month is
twice the period.

A tools call: 1,000 system + 8,000 tools + 1,000 user = 10,000 in, 100 out:
10,000 x 2.50/M + 100 x 10/M = 0.025 + 0.001 = $0.026 (batch: $0.013).
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor_synthetic import SINCE, UNTIL, advice_of, savings_by_kind_and_feature
from advisor_synthetic_more import MoreBuilder, minutes, prompt
from llmtally.advisor.token_changes import fewer_input
from llmtally.advisor.trim import trim_recommender
from llmtally.advisor.working import CellState
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.usage import Usage
from test_advisor_cap import READS_CALLS, statements
from test_ledger_support import db_url, pg_base_url  # noqa: F401

GPT4O = "gpt-4o"


def trimmable(catalog: Catalog) -> MoreBuilder:
    """- classify: 100 calls with 8,000 tools tokens, none calls a tool (remove them).
    - agent: the same, 10 of 100 end with a tool call (trap: the tools are used).
    - legacy: 20 such calls with no finish reason recorded (trap: cannot tell).
    - nightly: like classify, not streamed: batched first, trimmed at batch rates.
    - cached: like classify, 9,000 tokens read from a prompt cache (tools in it).
    - faq: 50 bodies x 2 sends 10 min apart, tools never called: the cache
      answers 50, the trim counts the 50 still sent.
    - chat: 4 traces of 2, 3, 5, 9 calls, history 11,000 more each call (cap it at
      25,000: the median call's 22,000 rounded up to a bin edge).
    - support: one trace whose history drops (trap: already bounded).
    - summarise: a 6,000-token system prompt of 8,000 (considered: dominates).
    """
    b = MoreBuilder(catalog)
    size, roles = prompt(system=1_000, tools=8_000, user=1_000)
    call = Usage(input_tokens=size, output_tokens=100)
    for i in range(100):
        used = "tool_calls" if i % 10 == 0 else "stop"
        b.more("classify", GPT4O, minutes(60 * i), call, finish_reason="stop", **roles)
        b.more("agent", GPT4O, minutes(60 * i + 1), call, finish_reason=used, **roles)
        b.more(
            "nightly", GPT4O, minutes(60 * i + 2), call,
            streamed=False, finish_reason="stop", **roles,
        )  # fmt: skip
        cached = replace(call, cache_read_tokens=9_000)
        b.more("cached", GPT4O, minutes(60 * i + 3), cached, finish_reason="stop", **roles)
    for i in range(20):
        b.more("legacy", GPT4O, minutes(60 * i + 4), call, **roles)
    for k in range(50):
        body = {"model": GPT4O, "messages": [{"role": "user", "content": f"faq {k}"}]}
        for gap in (0, 10):
            at = minutes(60 * k + 30 + gap)
            b.more("faq", GPT4O, at, call, body=body, finish_reason="stop", **roles)
    for trace, length in enumerate((2, 3, 5, 9)):
        for turn in range(length):
            size, roles = prompt(system=500, history=11_000 * turn, user=500)
            b.more(
                "chat", GPT4O, minutes(8_000 + 100 * trace + turn),
                Usage(input_tokens=size, output_tokens=100),
                trace_id=f"chat-{trace}", finish_reason="stop", **roles,
            )  # fmt: skip
    for turn, history in enumerate((0, 10_000, 20_000, 5_000)):
        size, roles = prompt(system=500, history=history, user=500)
        b.more(
            "support", GPT4O, minutes(9_000 + turn), Usage(input_tokens=size, output_tokens=100),
            trace_id="support-0", finish_reason="stop", **roles,
        )  # fmt: skip
    for i in range(10):
        size, roles = prompt(system=6_000, user=2_000)
        b.more(
            "summarise", GPT4O, minutes(10_000 + i), Usage(input_tokens=size, output_tokens=100),
            finish_reason="stop", **roles,
        )  # fmt: skip
    return b


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> str:  # noqa: F811
    with open_store(db_url) as store:
        trimmable(catalog).store(store)
    return db_url


def test_planted_trims_with_their_savings(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    assert savings_by_kind_and_feature(advice) == {
        # classify: 100 calls x 8,000 tools tokens x 2.50/M = $2.00; x2
        ("trim_prompt", "classify"): Decimal("4.00"),
        # cached: the tools were read from the cache: 100 x 8,000 x 1.25/M = $1.00; x2
        ("trim_prompt", "cached"): Decimal("2.00"),
        # nightly, batched first: 100 x ($0.026 - $0.013) = $1.30; x2
        ("batch", "nightly"): Decimal("2.60"),
        # ... then trimmed at the batch rate: 100 x 8,000 x 1.25/M = $1.00; x2
        ("trim_prompt", "nightly"): Decimal("2.00"),
        # faq: the response cache answers the 50 repeats: 50 x $0.026 = $1.30; x2
        ("duplicates", "faq"): Decimal("2.60"),
        # ... the trim applies to the 50 still sent: each day's 8,000 x its calls,
        # scaled to the half still sent: 50 x 8,000 x 2.50/M = $1.00; x2
        ("trim_prompt", "faq"): Decimal("2.00"),
        # chat: the 19 calls' history: 0 x4, 11k x4, 22k x3, 33k x2, 44k x2, 55k, 66k,
        # 77k, 88k. Median: rank ceil(19 x 50 / 100) = 10 -> 22,000, in the bin
        # (20,000, 25,000]: cap 25,000. Above it: 33k x2 -> 2 x 8k = 16k; 44k x2 -> 2 x
        # 19k = 38k; 55k, 66k, 77k, 88k -> 30k + 41k + 52k + 63k = 186k; 240,000 x
        # 2.50/M = $0.60; x2
        ("trim_prompt", "chat"): Decimal("1.20"),
    }
    chat = next(r for r in advice.recommendations if r.where["feature"] == "chat")
    assert chat.title == "Cap the conversation history at 25,000 tokens"
    assert chat.calls == 8 and chat.evidence["history_tokens_over_cap"] == "240000"
    assert chat.evidence["history_calls"] == "19"  # 2 + 3 + 5 + 9 traced calls
    # the 8 calls above the cap, in time order: 400 + 20 + 100 calls before chat, then
    # traces of 2 (520-521), 3 (522-524), 5 (525-529) and 9 (530-538) calls: turns 3
    # and 4 of the trace of 5, turns 3 to 8 of the trace of 9
    assert chat.call_ids == ("chat-0528", "chat-0529", *(f"chat-{i:04d}" for i in range(533, 539)))
    assert chat.confidence.level == "low" and "HISTORY_CAP = 25_000" in chat.how_to_apply
    faq = next(
        r for r in advice.recommendations if r.where["feature"] == "faq" and r.kind == "trim_prompt"
    )
    # 50 bodies x 2 calls over 3 days (24, 24, 2 hours), the repeat of each answered
    assert any(
        "a response cache kept above answers 50 of the 100 calls" in a for a in faq.assumptions
    )
    assert not any("response cache" in a for a in chat.assumptions)
    classify = next(r for r in advice.recommendations if r.where["feature"] == "classify")
    assert classify.calls == 100 and classify.confidence.level == "medium"
    assert "# tools=TOOLS,  # removed: never called, 8,000 tokens a call" in (classify.how_to_apply)


def test_traps_are_considered_with_their_reason(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    trims = {c.where["feature"]: c for c in advice.considered if c.kind == "trim_prompt"}
    assert trims["agent"].reason == "the tools are called: 10 of 100 calls ended with a tool call"
    assert trims["legacy"].reason == (
        "20 of 20 calls with tools have no recorded finish reason: "
        "cannot tell whether the tools are used"
    )
    assert trims["support"].reason == (
        "the history already drops 1 time(s) within its traces: a window or a summary bounds it"
    )
    # summarise: 6,000 system of 8,000 input tokens = 75.0%
    assert trims["summarise"].reason.startswith(
        "the system prompt is 75.0% of the input tokens (6,000 tokens a call over 10 calls)"
    )
    assert all(trims[f].monthly_saving is None for f in ("agent", "legacy", "support", "summarise"))
    recommended = {r.where["feature"] for r in advice.recommendations if r.kind == "trim_prompt"}
    assert not recommended & {"agent", "legacy", "support", "summarise"}


def test_alone_the_trim_is_priced_at_the_standard_rate(database: str, catalog: Catalog) -> None:
    alone = advice_of(database, catalog, recommenders=[trim_recommender])
    # nightly, not batched: 100 x 8,000 x 2.50/M = $2.00; x2
    assert savings_by_kind_and_feature(alone)[("trim_prompt", "nightly")] == Decimal("4.00")
    # faq, no response cache: 100 x 8,000 x 2.50/M = $2.00; x2
    assert savings_by_kind_and_feature(alone)[("trim_prompt", "faq")] == Decimal("4.00")


@pytest.mark.parametrize(
    ("tokens", "left"),
    [
        # 3,000 cache reads first, then 3,000 of the 5,000 plain tokens
        (6_000, (4_000, 0, 2_000, 500)),
        # reads 3,000 + plain 5,000 + the 1,500 five-minute writes; the 1 h writes last
        (9_500, (500, 0, 500, 500)),
        (10_000, (0, 0, 0, 0)),
    ],
)
def test_input_is_removed_cheapest_first(tokens: int, left: tuple[int, ...]) -> None:
    usage = Usage(
        input_tokens=10_000, cache_read_tokens=3_000,
        cache_write_tokens=2_000, cache_write_1h_tokens=500, output_tokens=100,
    )  # fmt: skip
    after = fewer_input(tokens)(CellState(usage, 1, 10_000, "anthropic", "claude-sonnet-4")).usage
    assert (
        after.input_tokens, after.cache_read_tokens,
        after.cache_write_tokens, after.cache_write_1h_tokens,
    ) == left  # fmt: skip


def test_cli_json_carries_trim_prompt(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    args = ["advise", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--json"]
    done = CliRunner().invoke(app, [*args, "--database", database])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    trims = {
        r["where"]["feature"]: r for r in data["recommendations"] if r["kind"] == "trim_prompt"
    }
    assert trims["classify"]["monthly_saving"] == "4"  # exact decimal text
    assert trims["classify"]["period_saving"] == "2"
    assert trims["chat"]["evidence"]["history_cap_tokens"] == "25000"
    considered = [c for c in data["considered"] if c["kind"] == "trim_prompt"]
    assert {c["where"]["feature"] for c in considered} == {
        "agent",
        "legacy",
        "support",
        "summarise",
    }


def test_reads_the_rollups_not_the_calls(database: str, catalog: Catalog) -> None:
    found, read, sampled = statements(database, catalog, trim_recommender)
    features = {c.where["feature"] for c in found.candidates}
    assert features == {"classify", "nightly", "cached", "faq", "chat"}
    assert read and not [s for s in read if READS_CALLS.search(s)]
    # only the history cap samples the calls it would change (the tools' samples
    # are the group's first calls, asked by the advisor)
    assert len([s for s in sampled if READS_CALLS.search(s)]) == 1
