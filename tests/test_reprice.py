"""Re-pricing recorded calls on other models, on SQLite and PostgreSQL.

Expected figures are computed per call, independently of the grouping the
code does in SQL: the ratio method by scaling a call's counts by the ratio's
numerator, pricing that with the meter and dividing by the denominator; the
re-tokenized method by counting the stored text with the target's tokenizer
and pricing the counts with the meter; cliffs by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.estimate import reprice
from llmtally.estimate.reprice_result import money
from llmtally.ledger import CallBodies, Store, open_store
from llmtally.ledger.rollup_tables import ROLLUPS
from llmtally.meter import cost
from llmtally.tokens.chat import count_messages
from llmtally.tokens.languages import load_corpus
from llmtally.tokens.registry import default_registry
from llmtally.usage import Call, ImageUnits, Usage, new_ulid
from test_ledger_support import db_url, pg_base_url, store  # noqa: F401

AT = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)  # the targets' price date
T0 = dt.datetime(2026, 1, 10, 9, tzinfo=dt.UTC)  # when the calls were made
SINCE = T0 - dt.timedelta(days=1)
CATALOG = Catalog.load()
TARGETS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "deepseek/deepseek-chat"]


@pytest.fixture
def ledger(store: Store) -> Store:  # noqa: F811 - the SQLite and PostgreSQL store fixture
    return store


def make_call(provider: str, model: str, usage: Usage, n: int = 0, **fields: object) -> Call:
    started = T0 + dt.timedelta(seconds=n)
    paid = cost(usage, CATALOG.price_at(provider, model, started))
    values: dict[str, object] = {
        "id": new_ulid(),
        "started_at": started,
        "provider": provider,
        "model_requested": model,
        "model_served": model,
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 100.0,
        "usage": usage,
        "cost": paid,
        "feature": "chat",
    }
    values.update(fields)
    return Call(**values)  # type: ignore[arg-type]


def english(tokenizer: str) -> int:
    counter = default_registry().get(tokenizer)
    return sum(counter.count(text) for text in load_corpus()[0].passages)


def tokenizer_of(model: str) -> str:
    return default_registry().tokenizer_name(model)[1]


def ratio(source: str, target: str) -> Fraction:
    a, b = tokenizer_of(source), tokenizer_of(target)
    return Fraction(1) if a == b else Fraction(english(b), english(a))


def by_ratio(usage: Usage, target: str, r: Fraction, reasoning: bool = False) -> Fraction:
    """One call on ``target``: every text count times r's numerator, priced by the
    meter, divided by r's denominator (cost is linear in tokens without cliffs)."""
    num, den = r.numerator, r.denominator
    dropped = 0 if reasoning else usage.reasoning_tokens
    scaled = Usage(
        input_tokens=usage.input_tokens * num,
        cache_read_tokens=usage.cache_read_tokens * num,
        cache_write_tokens=usage.cache_write_tokens * num,
        output_tokens=(usage.output_tokens - dropped) * num,
        reasoning_tokens=(usage.reasoning_tokens - dropped) * num,
        service_tier=usage.service_tier,
    )
    return Fraction(cost(scaled, CATALOG.price_at(None, target, AT)).total) / den


def recorded(calls: list[Call]) -> Decimal:
    return sum((c.cost.total.quantize(Decimal("1e-10")) for c in calls if c.cost), Decimal(0))


# --- the ratio method -------------------------------------------------------------------

HAIKU = Usage(input_tokens=4000, cache_read_tokens=2000, cache_write_tokens=1000, output_tokens=500)
MIXED = [
    ("openai", "gpt-4", Usage(input_tokens=1234, output_tokens=321), "chat"),
    ("openai", "gpt-4", Usage(input_tokens=5000, output_tokens=77), "search"),
    ("anthropic", "claude-3-5-haiku-20241022", HAIKU, "chat"),
    (
        "openai",
        "gpt-4o-mini",
        Usage(input_tokens=3000, cache_read_tokens=1024, output_tokens=700),
        None,
    ),
]


def test_ratio_totals_equal_the_per_call_computation(ledger: Store) -> None:
    calls = [make_call(p, m, u, i, feature=f) for i, (p, m, u, f) in enumerate(MIXED)]
    ledger.insert_many(calls)
    result = reprice(ledger, TARGETS, SINCE, by="feature", catalog=CATALOG, at=AT)
    for target in TARGETS:
        exact = sum(by_ratio(c.usage, target, ratio(c.model, target)) for c in calls)
        assert result.cost(target) == money(exact), target
        chat = [c for c in calls if c.feature == "chat"]
        in_chat = sum(by_ratio(c.usage, target, ratio(c.model, target)) for c in chat)
        assert result.cost(target, "chat") == money(in_chat)
    assert result.total.actual == recorded(calls)
    assert result.total.calls == 4
    assert {row.key for row in result.rows} == {"chat", "search", None}
    methods = result.total.figures["anthropic/claude-3-5-haiku"].methods
    assert methods == {"ratio": 3, "same tokenizer": 1}
    mini = result.total.figures["openai/gpt-4o-mini"].methods
    assert mini == {"ratio": 3, "same tokenizer": 1}
    assert any(r.method == "ratio" and r.source_tokenizer == "cl100k_base" for r in result.ratios)


def test_the_same_model_re_priced_costs_what_it_cost(ledger: Store) -> None:
    calls = [make_call(p, m, u, i) for i, (p, m, u, _) in enumerate(MIXED) if m == "gpt-4o-mini"]
    ledger.insert_many(calls)
    result = reprice(ledger, ["openai/gpt-4o-mini"], SINCE, catalog=CATALOG, at=AT)
    assert result.cost("openai/gpt-4o-mini") == result.total.actual == recorded(calls)


# --- re-tokenized bodies ----------------------------------------------------------------

REQUEST = {
    "model": "gpt-4",
    "messages": [
        {"role": "system", "content": "You are terse. Answer in plain words."},
        {"role": "user", "content": "Explain prompt caching in two sentences, please."},
    ],
}
ANSWER = "A cache keeps the prompt's prefix; a repeat pays the lower cached price."
RESPONSE = {"choices": [{"message": {"role": "assistant", "content": ANSWER}}]}
STREAM = (
    "".join(
        f"data: {json.dumps({'choices': [{'delta': {'content': piece}}]})}\n\n"
        for piece in (ANSWER[:20], ANSWER[20:])
    )
    + "data: [DONE]\n\n"
)


def test_stored_bodies_are_re_tokenized_with_the_target(ledger: Store) -> None:
    usage = Usage(input_tokens=31, output_tokens=17)
    cached_usage = Usage(input_tokens=31, cache_read_tokens=16, output_tokens=17)
    kept, streamed, cut = (make_call("openai", "gpt-4", usage, i) for i in range(3))
    cached = make_call("openai", "gpt-4o", cached_usage, 3)
    ledger.insert_many(
        [kept, streamed, cut, cached],
        [
            CallBodies(kept.id, json.dumps(REQUEST), json.dumps(RESPONSE)),
            CallBodies(streamed.id, json.dumps(REQUEST), STREAM),
            CallBodies(cut.id, json.dumps(REQUEST), json.dumps(RESPONSE), response_truncated=True),
            CallBodies(cached.id, json.dumps(REQUEST), json.dumps(RESPONSE)),
        ],
    )
    target = "anthropic/claude-3-5-haiku"
    result = reprice(ledger, [target], SINCE, catalog=CATALOG, at=AT)
    _, tokenizer = default_registry().for_model(target)
    prompt = count_messages(REQUEST["messages"], tokenizer, wire="openai").total
    answer = tokenizer.count(ANSWER)
    price = CATALOG.price_at(None, target, AT)
    retokenized = Fraction(cost(Usage(input_tokens=prompt, output_tokens=answer), price).total)
    truncated = by_ratio(usage, target, ratio("gpt-4", target))  # falls back to the ratio
    # the cached call keeps its cached share (16 of 31) of the re-tokenized prompt:
    # every count times 31, priced by the meter, divided by 31
    scaled = Usage(
        input_tokens=prompt * 31, cache_read_tokens=prompt * 16, output_tokens=answer * 31
    )
    with_cache = Fraction(cost(scaled, price).total) / 31
    assert result.cost(target) == money(2 * retokenized + truncated + with_cache)
    assert result.total.figures[target].methods == {"retokenized": 3, "ratio": 1}


def test_reported_counts_are_the_truth_on_the_same_tokenizer(ledger: Store) -> None:
    # The provider reported far more tokens than the stored text shows (a long
    # system prompt template, tool schemas, images): 5,000 in, 400 out.
    usage = Usage(input_tokens=5000, cache_read_tokens=1024, output_tokens=400)
    calls = [make_call("openai", "gpt-4o", usage, i) for i in range(2)]
    ledger.insert_many(
        calls, [CallBodies(c.id, json.dumps(REQUEST), json.dumps(RESPONSE)) for c in calls]
    )
    same, sibling, other = "openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"
    result = reprice(ledger, [same, sibling, other], SINCE, catalog=CATALOG, at=AT)
    # gpt-4o on itself: 3,976 x $2.50 + 1,024 x $1.25 + 400 x $10 per 1M = 0.00994 + 0.00128
    # + 0.004 = 0.01522 a call, exactly what each cost: 1.00x
    assert result.total.actual == Decimal("0.03044")
    assert result.cost(same) == Decimal("0.03044")
    assert result.total.figures[same].methods == {"same tokenizer": 2}
    # gpt-4o-mini shares o200k_base: the reported counts at $0.15 / $0.075 cached / $0.60:
    # 3,976 x 0.15 + 1,024 x 0.075 + 400 x 0.60 per 1M = 0.0005964 + 0.0000768 + 0.00024
    # = 0.0009132 a call
    assert result.cost(sibling) == Decimal("0.0018264")
    assert result.total.figures[sibling].methods == {"same tokenizer": 2}
    # another tokenizer: the stored text is counted again
    assert result.total.figures[other].methods == {"retokenized": 2}


def test_image_input_tokens_carry_over_unchanged(ledger: Store) -> None:
    # gpt-4o call with a 765-token image in its 2,000-token prompt; on claude-3-5-haiku
    # ($0.80/$4) the text is scaled by the corpus ratio r, the image is not:
    # ((2,000 - 765) x r + 765) x 0.8/1M + 100 x r x 4/1M
    usage = Usage(input_tokens=2000, input_image_tokens=765, output_tokens=100)
    ledger.insert_many([make_call("openai", "gpt-4o", usage)])
    target = "anthropic/claude-3-5-haiku"
    result = reprice(ledger, [target, "openai/gpt-4o-mini"], SINCE, catalog=CATALOG, at=AT)
    r = ratio("gpt-4o", target)
    expected = ((2000 - 765) * r + 765) * Fraction("0.8e-6") + 100 * r * Fraction("4e-6")
    assert result.cost(target) == money(expected)
    mini = cost(usage, CATALOG.price_at(None, "gpt-4o-mini", AT)).total
    assert result.cost("openai/gpt-4o-mini") == mini


# --- what carries over, what is left out ---------------------------------------------------


def test_reasoning_tiers_and_left_out_calls(ledger: Store) -> None:
    thinking = make_call(
        "openai", "o3-mini", Usage(input_tokens=1000, output_tokens=3000, reasoning_tokens=2500)
    )
    batch = make_call("openai", "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=100,
                                                     service_tier="batch"), 1)  # fmt: skip
    unpriced = make_call("openai", "gpt-4o", Usage(input_tokens=10), 2, cost=None,
                         cost_error="no usage reported")  # fmt: skip
    image = make_call("openai", "dall-e-3", Usage(images=(ImageUnits(1, "1024x1024"),)), 3)
    ledger.insert_many([thinking, batch, unpriced, image])
    targets = ["openai/gpt-4o-mini", "openai/o4-mini", "groq/llama-3.3-70b-versatile"]
    result = reprice(ledger, targets, SINCE, catalog=CATALOG, at=AT)
    assert result.left_out == {
        "no recorded cost": 1,
        "priced per unit (images, audio, characters)": 1,
    }
    assert result.total.calls == 2
    # gpt-4o-mini (not a reasoning model): o3-mini's 2,500 reasoning tokens dropped:
    # 1,000 x 0.15/1M + 500 x 0.60/1M = 0.00045; the batch call at batch prices
    # 1,000 x 0.075/1M + 100 x 0.30/1M = 0.000105. Both o200k_base: same tokenizer.
    assert result.cost("openai/gpt-4o-mini") == Decimal("0.000555")
    # o4-mini keeps reasoning: 1,000 x 1.10/1M + 3,000 x 4.40/1M = 0.0143; batch call
    # 1,000 x 0.55/1M + 100 x 2.20/1M = 0.00077; total 0.01507
    assert result.cost("openai/o4-mini") == Decimal("0.01507")
    infos = {t.model: t for t in result.targets}
    assert infos["openai/gpt-4o-mini"].notes == {
        "not a reasoning model: recorded reasoning tokens dropped": 1
    }
    assert infos["openai/o4-mini"].notes == {
        "reasoning target, non-reasoning source: no reasoning added (a lower bound)": 1
    }
    # Groq offers no batch tier: the batch call is priced at standard ($0.59/$0.79)
    llama = "groq/llama-3.3-70b-versatile"
    assert infos[llama].notes["batch tier not offered: priced at standard"] == 1
    r = ratio("gpt-4o-mini", llama)
    expected = by_ratio(thinking.usage, llama, r) + by_ratio(
        Usage(input_tokens=1000, output_tokens=100), llama, r
    )
    assert result.cost(llama) == money(expected)


def test_a_long_context_cliff_is_decided_per_call(ledger: Store) -> None:
    # claude-sonnet-4-5 re-prices the whole request at $6/$22.50 above 200K prompt tokens.
    # Same tokenizer (claude-3-5-sonnet): 250,000 -> 1.5 + 1,000 x 22.5/1M = 1.5225;
    # 150,000 -> 0.45 + 1,000 x 15/1M = 0.465.
    same = [make_call("anthropic", "claude-3-5-sonnet-20241022",
                      Usage(input_tokens=n, output_tokens=1000), i)
            for i, n in enumerate((250_000, 150_000))]  # fmt: skip
    # From gpt-4o (o200k_base) the prompt is scaled by r = claude/o200k English tokens:
    # 199,900 x r is above 200K when r > 1.0005, 150,000 x r is not.
    r = ratio("gpt-4o", "claude-sonnet-4-5")
    assert 199_900 * r > 200_000
    other = [make_call("openai", "gpt-4o", Usage(input_tokens=n, output_tokens=1000), 5 + i)
             for i, n in enumerate((199_900, 150_000))]  # fmt: skip
    ledger.insert_many([*same, *other])
    target = "anthropic/claude-sonnet-4-5"
    high = Fraction(199_900) * r * Fraction("6e-6") + 1000 * r * Fraction("22.5e-6")
    low = Fraction(150_000) * r * Fraction("3e-6") + 1000 * r * Fraction("15e-6")
    result = reprice(ledger, [target], SINCE, by="model", catalog=CATALOG, at=AT)
    assert result.cost(target, "claude-3-5-sonnet-20241022") == Decimal("1.9875")
    assert result.cost(target, "gpt-4o") == money(high + low)
    # the source models are looked up in the hourly rollups first; a model missing
    # there is found by the scan of calls, and its thresholds are added
    with ledger.engine.begin() as conn:
        conn.execute(ROLLUPS["rollup_model_hour"].delete())
    again = reprice(ledger, [target], SINCE, by="model", catalog=CATALOG, at=AT)
    assert again.cost(target, "gpt-4o") == money(high + low)


def test_bad_arguments(ledger: Store) -> None:
    with pytest.raises(ValueError, match="cannot group by 'tag'"):
        reprice(ledger, TARGETS, SINCE, by="tag", catalog=CATALOG)
    with pytest.raises(LookupError, match="unknown model 'gpt-5o'"):
        reprice(ledger, ["gpt-5o"], SINCE, catalog=CATALOG)


# --- the command ---------------------------------------------------------------------------


def test_the_command_from_the_ledger(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    calls = [make_call(p, m, u, i, feature=f) for i, (p, m, u, f) in enumerate(MIXED)]
    with open_store(url) as opened:
        opened.insert_many(calls)
    runner = CliRunner()
    args = ["estimate", "--from-ledger", "--since", "2026-01-01", "--at", "2026-01-15T12:00:00Z"]
    args += ["--models", ",".join(TARGETS), "--database", url]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    expected = sum(by_ratio(c.usage, TARGETS[0], ratio(c.model, TARGETS[0])) for c in calls)
    assert data["total"]["targets"][TARGETS[0]]["cost"] == str(money(expected).normalize())
    assert data["total"]["targets"][TARGETS[0]]["methods"] == {"ratio": 3, "same tokenizer": 1}
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "ratio: 3" in table.stdout and "search" in table.stdout
    bad = runner.invoke(app, [*args, "--by", "colour"])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert "--by: 'colour' is not one of" in bad.stderr
