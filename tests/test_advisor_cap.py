"""The cap_output recommender (advisor/cap_output.py) on a synthetic ledger, on
SQLite and PostgreSQL: the planted long tails with their hand-computed monthly
saving, the traps considered with their reason, not recommended.

USD per 1M tokens (openai.yaml): gpt-4o input 2.50, output 10.00; o4-mini output
4.40 (reasoning billed as output). The period is 15 days: a month is twice the
period. The cap is the upper edge of the histogram bin (edges 1, 1.25, 1.5, 2,
2.5, 3, 4, 5, 6, 8 x 10^k) holding the nearest-rank p95: the value at rank
ceil(0.95 n) in output order, rounded up to the next edge (1,000 is one; 1,800
becomes 2,000).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from advisor_synthetic import SINCE, UNTIL, advice_of, savings_by_kind_and_feature
from advisor_synthetic_more import MoreBuilder, minutes
from lab_support import gateway_config
from llmtally.advisor.candidate import Found
from llmtally.advisor.cap_output import cap_output_recommender
from llmtally.advisor.period import Period, load_period
from llmtally.advisor.token_changes import fewer_output
from llmtally.advisor.working import CellState, Working
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream
from test_advise_verify import reasoning_ledger
from test_ledger_support import db_url, pg_base_url  # noqa: F401


def test_a_cap_cuts_the_reasoning_first_and_keeps_it_within_the_output() -> None:
    state = CellState(_out(22_000, 11_000), 1, 1_000, "openai", "o4-mini")
    # capped at 2,000: 20,000 output tokens go, 9,000 of them reasoning
    after = fewer_output(20_000, 9_000)(state)
    assert (after.usage.output_tokens, after.usage.reasoning_tokens) == (2_000, 2_000)


def test_a_cap_never_takes_more_than_the_cell_holds() -> None:
    # a scaled estimate asks for 30,000 of 22,000 output tokens, 5,000 of them
    # reasoning: the 22,000 go, and all 11,000 reasoning with them (reasoning stays
    # within the output)
    after = fewer_output(30_000, 5_000)(
        CellState(_out(22_000, 11_000), 1, 1_000, "openai", "o4-mini")
    )
    assert (after.usage.output_tokens, after.usage.reasoning_tokens) == (0, 0)
    # 12,000 of 22,000 asked with 0 reasoning: only 11,000 are answer text, so
    # 1,000 of the reasoning goes too (21,000 - 11,000 = 10,000 left, 10,000 reasoning)
    after = fewer_output(12_000, 0)(CellState(_out(22_000, 11_000), 1, 1_000, "openai", "o4-mini"))
    assert (after.usage.output_tokens, after.usage.reasoning_tokens) == (10_000, 10_000)


def _out(tokens: int, reasoning: int = 0) -> Usage:
    return Usage(input_tokens=1_000, output_tokens=tokens, reasoning_tokens=reasoning)


def cappable(catalog: Catalog) -> MoreBuilder:
    """- essay, gpt-4o: 95 outputs of 1,000 tokens, 5 runaways of 21,000 (cap them).
    - think, o4-mini: 190 outputs of 1,800 (400 reasoning), 10 of 22,000 (11,000
      reasoning): reasoning 33.1% of the output; cap the tail at 2,000 (the p95,
      1,800, rounded up to a bin edge), reasoning cut too.
    - retell, gpt-4o: 100 bodies each sent twice 10 minutes apart, 1,000 tokens
      out; bodies 0, 25, 50, 75 run away to 21,000 (8 of 200 calls, 4%): a
      response cache answers the repeats, the cap counts the calls still sent.
    - extract, gpt-4o: 6 outputs cut at 500 and 4 at 20,000 by max_tokens, 90 of
      1,000 (trap: 10% already stop at max_tokens).
    - plan, o4-mini: 50 outputs of 5,000, 4,000 of them reasoning, effort high
      (trap: 80% reasoning; a lower effort needs lab evidence).
    """
    b = MoreBuilder(catalog)
    for i in range(100):
        tokens = 21_000 if i % 20 == 0 else 1_000
        b.more("essay", "gpt-4o", minutes(60 * i), _out(tokens), finish_reason="stop")
    for i in range(200):
        usage = _out(22_000, 11_000) if i % 20 == 0 else _out(1_800, 400)
        b.more("think", "o4-mini", minutes(30 * i + 1), usage, finish_reason="stop")
    extract = [(500, "length")] * 6 + [(20_000, "length")] * 4 + [(1_000, "stop")] * 90
    for i, (tokens, finish) in enumerate(extract):
        b.more("extract", "gpt-4o", minutes(60 * i + 2), _out(tokens), finish_reason=finish)
    for i in range(50):
        b.more(
            "plan", "o4-mini", minutes(60 * i + 3), _out(5_000, 4_000),
            finish_reason="stop", reasoning_effort="high",
        )  # fmt: skip
    for k in range(100):
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"retell {k}"}]}
        usage = _out(21_000 if k % 25 == 0 else 1_000)
        for gap in (0, 10):
            at = minutes(60 * k + 4 + gap)
            b.more("retell", "gpt-4o", at, usage, body=body, finish_reason="stop")
    return b


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def database(db_url: str, catalog: Catalog) -> str:  # noqa: F811
    with open_store(db_url) as store:
        cappable(catalog).store(store)
    return db_url


def test_long_tails_capped_with_their_savings(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    assert savings_by_kind_and_feature(advice) == {
        # essay: p95 of 95 x 1,000 and 5 x 21,000 is rank 95 -> 1,000; the 5
        # runaways lose 20,000 each: 100,000 x 10.00/M = $1.00; x2
        ("cap_output", "essay"): Decimal("2.00"),
        # think: p95 of 190 x 1,800 and 10 x 22,000 is rank 190 -> 1,800, in the bin
        # (1,500, 2,000]: cap 2,000. 10 x (22,000 - 2,000) = 200,000 output tokens (of
        # them 10 x (11,000 - 2,000) = 90,000 reasoning, billed as output alike):
        # 200,000 x 4.40/M = $0.88; x2
        ("cap_output", "think"): Decimal("1.76"),
        # retell: the response cache answers the 100 repeats, each as billed: 96 x
        # (1,000 in x 2.50/M + 1,000 out x 10/M = $0.0125) = $1.20, 4 x ($0.0025 +
        # 21,000 x 10/M = $0.2125) = $0.85: $2.05; x2
        ("duplicates", "retell"): Decimal("4.10"),
        # ... then the cap: p95 of 192 x 1,000 and 8 x 21,000 is rank 190 -> 1,000, on
        # the grid. A runaway body's day (days 0-3: 24 bodies, 48 calls) has 2 calls
        # over by 20,000 = 40,000, scaled to the 24 of 48 calls still sent: 20,000; 4
        # days x 20,000 = 80,000 x 10.00/M = $0.80; x2
        ("cap_output", "retell"): Decimal("1.60"),
    }
    essay = next(r for r in advice.recommendations if r.where["feature"] == "essay")
    assert essay.title == "Cap the output at 1,000 tokens (p95)"
    assert essay.calls == 5 and essay.evidence["longest_output_tokens"] == "21000"
    assert essay.confidence.level == "medium"
    assert "max_completion_tokens=1000" in essay.how_to_apply
    assert "the longest average 21,000 tokens, 21x the cap" in essay.assumptions[0]
    think = next(
        r
        for r in advice.recommendations
        if r.where["feature"] == "think" and r.kind == "cap_output"
    )
    assert think.title == "Cap the output at 2,000 tokens (p95)"  # p95 1,800 rounded up
    assert think.evidence["cap_tokens"] == "2000" and think.evidence["calls_over_cap"] == "10"
    # 22,000 / 2,000 = 11x
    assert "the longest average 22,000 tokens, 11x the cap" in think.assumptions[0]
    retell = next(
        r
        for r in advice.recommendations
        if r.where["feature"] == "retell" and r.kind == "cap_output"
    )
    # one runaway of each of the 4 pairs is still sent
    assert retell.calls == 4 and retell.evidence["calls_over_cap"] == "4"
    # the 4 days with a runaway hold 4 x 48 = 192 calls, 96 of them answered
    assert any(
        "a response cache kept above answers 96 of the 192 calls" in a for a in retell.assumptions
    )
    assert not any("response cache" in a for a in think.assumptions)
    said = "a call still reasoning at the cap returns no answer"
    assert any(said in a for a in think.assumptions)
    assert not any(said in a for a in essay.assumptions)  # gpt-4o does not reason
    # the sample calls are the ones the cap would cut, in time order: the 5 runaways
    # (every 20th)
    assert essay.call_ids == tuple(f"essay-{i:04d}" for i in (0, 20, 40, 60, 80))


def test_traps_are_considered_with_their_reason(database: str, catalog: Catalog) -> None:
    advice = advice_of(database, catalog)
    caps = {c.where["feature"]: c for c in advice.considered if c.kind == "cap_output"}
    assert caps["extract"].reason == (
        "10 of 100 calls (10.0%) already stopped at max_tokens: a lower cap would cut more answers"
    )
    # plan: 50 x 4,000 = 200,000 reasoning of 50 x 5,000 = 250,000 output: 80.0%
    assert caps["plan"].reason == (
        "reasoning is 80.0% of the output tokens (200,000 of 250,000; effort asked: high); "
        "a lower effort is not recommended without lab evidence that it passes the same "
        "checks: run `llmtally advise verify plan --models o4-mini --effort medium`"
    )
    assert caps["extract"].monthly_saving is None and caps["plan"].monthly_saving is None
    # think: 190 x 400 + 10 x 11,000 = 186,000 reasoning of 190 x 1,800 + 10 x 22,000
    # = 562,000 output: 33.1%, not considered
    assert set(caps) == {"extract", "plan"}
    recommended = {r.where["feature"] for r in advice.recommendations}
    assert not recommended & {"extract", "plan"}


def test_cli_json_carries_cap_output(
    database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    args = ["advise", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--json"]
    done = CliRunner().invoke(app, [*args, "--database", database])
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    caps = {r["where"]["feature"]: r for r in data["recommendations"] if r["kind"] == "cap_output"}
    assert caps["essay"]["monthly_saving"] == "2" and caps["essay"]["period_saving"] == "1"
    assert caps["think"]["monthly_saving"] == "1.76"
    assert caps["essay"]["evidence"]["cap_tokens"] == "1000"
    considered = {c["where"]["feature"] for c in data["considered"] if c["kind"] == "cap_output"}
    assert considered == {"extract", "plan"}


READS_CALLS = re.compile(r"\b(FROM|JOIN)\s+calls\b", re.IGNORECASE)


def statements(
    database: str, catalog: Catalog, recommend: Callable[[Period, Working], Found]
) -> tuple[Found, list[str], list[str]]:
    """What ``recommend`` found on the synthetic period, the SQL it ran, and the SQL
    its candidates' samplers ran."""
    with open_store(database) as store:
        period = load_period(store, SINCE, UNTIL)
        ran: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            ran.append(statement)

        event.listen(store.engine, "before_cursor_execute", seen)
        found = recommend(period, Working(period.cells, catalog))
        read = list(ran)
        ran.clear()
        for candidate in found.candidates:
            if candidate.sampler is not None:
                candidate.sampler()
        event.remove(store.engine, "before_cursor_execute", seen)
    return found, read, ran


def test_reads_the_rollups_not_the_calls(database: str, catalog: Catalog) -> None:
    found, read, sampled = statements(database, catalog, cap_output_recommender)
    assert {c.where["feature"] for c in found.candidates} == {"essay", "think", "retell"}
    assert read and not [s for s in read if READS_CALLS.search(s)]
    # the sample calls of a kept candidate are the one query on calls
    assert len([s for s in sampled if READS_CALLS.search(s)]) == 3


# --- a lower reasoning effort, verified in the lab ------------------------------------


def test_the_command_asks_the_level_below() -> None:
    from llmtally.advisor.cap_effort import next_effort

    assert [next_effort(e) for e in ("high", "medium", "low", "minimal")] == [
        "medium", "low", "minimal", "minimal",
    ]  # fmt: skip
    assert next_effort(None) == next_effort("mixed") == "low"


@pytest.fixture
def effort_database(
    db_url: str,  # noqa: F811
    catalog: Catalog,
    tmp_path: Path,
) -> str:
    """ponder and muse, o3-mini, 100 streamed calls each of 1,000 input and 5,000
    output tokens, 4,000 of them reasoning (80%), every answer "The answer is
    391."; both verified at --effort low on 12 replays (the o3-mini transcript:
    1,000 reasoning tokens a replay, "The answer is 391."): ponder's check
    passes, muse's (it wants 392) fails."""
    b = MoreBuilder(catalog)
    reasoning_ledger(b, "ponder", 100, streamed=True)
    reasoning_ledger(b, "muse", 100, streamed=True)
    with open_store(db_url) as store:
        b.store(store)
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
        config = gateway_config(tmp_path, upstream.url)
        for feature, check in (("ponder", "is 391"), ("muse", "is 392")):
            args = ["advise", "verify", feature, "--models", "o3-mini", "--effort", "low",
                    "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
                    "--sample", "12", "--check", f"contains: {check}",
                    "--database", db_url, "--config", str(config)]  # fmt: skip
            done = CliRunner().invoke(app, args)
            assert done.exit_code == 0, done.output
    return db_url


def test_a_lower_effort_the_lab_passed_is_recommended(
    effort_database: str, catalog: Catalog
) -> None:
    advice = advice_of(effort_database, catalog)
    savings = savings_by_kind_and_feature(advice)
    # ponder: 12 replays reasoned 12 x 1,000 = 12,000 tokens, the same 12 recorded
    # prompts 12 x 4,000 = 48,000: r = 0.25. 100 calls x 4,000 reasoning x (1 - 0.25)
    # = 300,000 output tokens x $4.40/M = $1.32 over 15 days; x2 = $2.64 a month.
    assert {k: v for k, v in savings.items() if k[1] in ("ponder", "muse")} == {
        ("cap_output", "ponder"): Decimal("2.64"),
    }
    ponder = next(r for r in advice.recommendations if r.where["feature"] == "ponder")
    assert ponder.title == "Lower the reasoning effort to low"
    assert ponder.calls == 100
    assert ponder.evidence["reasoning_ratio"] == "0.25"
    assert ponder.evidence["replays"] == "12" and ponder.evidence["check_pass_rate"] == "1.00"
    assert ponder.assumptions[0].startswith(
        "reasoning at low is 25.0% of the recorded: measured on 12 replays in lab run "
    )
    assert 'reasoning_effort="low"' in ponder.how_to_apply
    assert ponder.confidence.level == "medium"  # 12 < 30 replays
    # muse: the lower effort failed the check: considered, with the command
    muse = next(
        c for c in advice.considered if c.kind == "cap_output" and c.where["feature"] == "muse"
    )
    assert muse.monthly_saving is None
    assert "o3-mini@low in lab run " in muse.reason
    assert "failed the lab: pass rate 0.00 < 0.95" in muse.reason
    assert muse.reason.endswith("run `llmtally advise verify muse --models o3-mini --effort low`")
    # right_size leaves a model at another effort to cap_output
    assert not [c for c in advice.considered if c.kind == "right_size" and "@" in c.reason]
