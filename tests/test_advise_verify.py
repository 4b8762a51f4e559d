"""``llmtally advise verify`` end to end: a feature's recorded prompts (stored
bodies in a synthetic ledger) replayed through hosted models (the replay upstream,
tests/replay_upstream.py, answering with recorded provider transcripts) and through
the embedded local model, judged by checks and by agreement with the recorded
answers, next to the saving of moving the feature, worked out by hand.

The ledger: feature ``support`` on gpt-4o, 100 calls 3 h apart from SINCE, each
10,000 input and 1,000 output tokens (SMALL). Calls i with i % 10 in 0..3 keep
whole bodies (40 calls), i % 10 == 4 a truncated request (not eligible). The
sample of 4 from the 40 (positions (2k+1) x 40 // 8 = 5, 15, 25, 35) is calls 11,
33, 61 and 83; call 33 is a two-turn conversation, skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from advisor_synthetic import SINCE, SMALL, UNTIL, LedgerBuilder
from lab_support import ANTHROPIC_MODEL, OPENAI_MODEL, gateway_config, run_rows
from llmtally.advisor.verify import latest_verification
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.ledger import open_store
from llmtally.ledger.rows import CallBodies
from llmtally.money import usd
from llmtally.usage import Usage
from replay_upstream import ReplayUpstream
from test_ledger_support import BACKENDS, pg_base_url, pg_schema  # noqa: F401

GEMINI_MODEL = "gemini-2.5-flash"  # tests/fixtures/transcripts/gemini_stream_generate_content.json
PERIOD = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
# The recorded answers of the sampled calls (the replayed answers are the transcripts':
# OpenAI "Hello! How can I help?", Anthropic "Hello!", Gemini "Once upon a time, ...").
RECORDED = {
    11: "Hello! How can I help you today?",
    61: "Hello!",
    83: "Hello, how can we help?",
}
CHECKS = ["--check", "regex: ^(Hello|Once)", "--check", "contains: help"]


def _request(i: int) -> dict[str, Any]:
    """An OpenAI chat request at temperature 0 (call 11 with a system prompt)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": f"question {i}"}]
    if i == 11:
        messages.insert(0, {"role": "system", "content": "You answer support tickets."})
    if i == 33:  # two turns: the lab replays one
        messages += [
            {"role": "assistant", "content": "Which order?"},
            {"role": "user", "content": "The last one."},
        ]
    return {"model": "gpt-4o", "messages": messages, "temperature": 0}


def _response(i: int) -> str:
    """Call 83's answer was streamed and is stored as the SSE stream; the rest as JSON."""
    text = RECORDED.get(i, f"filler answer {i}")
    if i == 83:
        pieces = ["Hello, how ", "can we help?"]
        chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    message = {"role": "assistant", "content": text}
    return json.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": message}]})


def build_ledger(catalog: Catalog, database: str) -> None:
    b = LedgerBuilder(catalog)
    for i in range(100):
        call_id = b.add("support", "gpt-4o", SINCE + dt.timedelta(hours=3 * i), SMALL)
        if i % 10 < 4:
            b.bodies.append(CallBodies(call_id, json.dumps(_request(i)), _response(i)))
        elif i % 10 == 4:
            cut = json.dumps(_request(i))[:20]
            b.bodies.append(CallBodies(call_id, cut, _response(i), request_truncated=True))
    for i in range(5):  # a feature without stored bodies
        b.add("nightly", "gpt-4o", SINCE + dt.timedelta(hours=3 * i + 1), SMALL)
    with open_store(database) as store:
        b.store(store)


class Verified:
    def __init__(self, tmp: Path, database: str, config: Path, report: dict[str, Any]) -> None:
        self.tmp, self.database, self.config, self.report = tmp, database, config, report

    def candidate(self, model: str) -> dict[str, Any]:
        return next(c for c in self.report["candidates"] if c["model"] == model)


def _verify(*args: str, database: str, config: Path) -> Any:
    command = ["advise", "verify", *args, "--database", database, "--config", str(config)]
    return CliRunner().invoke(app, command, env={"COLUMNS": "80"})


@pytest.fixture(scope="module", params=BACKENDS)
def ledger_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The ledger on SQLite (a file) and on PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.sqlite3'}"
        return
    with pg_schema(request.getfixturevalue("pg_base_url")) as url:
        yield url


@pytest.fixture(scope="module")
def verified(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog, ledger_url: str
) -> Iterator[Verified]:
    tmp = tmp_path_factory.mktemp("verify")
    database = ledger_url
    build_ledger(catalog, database)
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp / "home"))
        config = gateway_config(tmp, upstream.url)
        models = f"{OPENAI_MODEL},{ANTHROPIC_MODEL},{GEMINI_MODEL}"
        done = _verify(
            "support", "--models", models, *PERIOD, "--sample", "4", *CHECKS, "--json",
            database=database, config=config,
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        yield Verified(tmp, database, config, json.loads(done.stdout))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    from llmtally.config import open_catalog

    return open_catalog()


def test_the_sample_is_evenly_spread_and_skips_what_the_lab_cannot_replay(
    verified: Verified,
) -> None:
    report = verified.report
    assert report["calls"] == 100  # every successful support call of the period
    assert report["with_bodies"] == 40  # i % 10 in 0..3; the truncated ones are not
    assert report["sample"]["picked"] == 4  # calls 11, 33, 61, 83
    assert report["sample"]["replayed"] == 3
    assert report["sample"]["skipped"] == {
        "several turns (the lab replays one system and one user turn)": 1  # call 33
    }
    assert report["status"] == "complete"
    assert report["checks"] == ["regex ^(Hello|Once)", "contains help"]


def test_pass_and_agreement_rates_per_candidate(verified: Verified) -> None:
    # Words (case-folded): "Hello! How can I help?" = {hello, how, can, i, help} (5).
    # gpt-4o-mini: call 11 {hello how can i help you today} (7): 2x5/(5+7) = 0.83, agrees;
    #   call 61 {hello}: 2x1/(5+1) = 0.33, no; call 83 {hello how can we help}: 2x4/10 = 0.8.
    mini = verified.candidate(OPENAI_MODEL)
    assert (mini["replays"], mini["agreed"]) == (3, 2)
    assert mini["agreement_rate"] == pytest.approx(2 / 3)
    assert (mini["checks_passed"], mini["check_pass_rate"]) == (3, 1.0)  # opens Hello, has help
    # claude: "Hello!" = {hello}: call 11 2/(1+7) = 0.25; call 61 1.0 agrees; call 83 2/6.
    claude = verified.candidate(ANTHROPIC_MODEL)
    assert (claude["replays"], claude["agreed"], claude["checks_passed"]) == (3, 1, 0)  # no help
    # gemini: a story sharing no word with any recorded answer; "Once..." has no "help".
    gemini = verified.candidate(GEMINI_MODEL)
    assert (gemini["replays"], gemini["agreed"], gemini["checks_passed"]) == (3, 0, 0)
    assert gemini["agreement_rate"] == 0.0


def test_the_saving_reprices_every_call_of_the_period(verified: Verified) -> None:
    # gpt-4o: 10,000 x $2.50/M + 1,000 x $10/M = $0.035 a call; x 100 calls = $3.50.
    # gpt-4o-mini: 10,000 x $0.15/M + 1,000 x $0.60/M = $0.0021; x 100 = $0.21.
    # Saving $3.29 over 15 days; x 30/15 = $6.58 a month.
    mini = verified.candidate(OPENAI_MODEL)["repricing"]
    assert mini["calls"] == 100 and mini["unpriced"] == 0
    assert mini["period_cost"] == "3.5"
    assert mini["period_cost_on_candidate"] == "0.21"
    assert mini["period_saving"] == "3.29"
    assert mini["monthly_saving"] == "6.58"
    # claude-sonnet-4: 10,000 x $3/M + 1,000 x $15/M = $0.045; x 100 = $4.50: costs
    # $1.00 more over the period, -$2.00 a month.
    assert verified.candidate(ANTHROPIC_MODEL)["repricing"]["monthly_saving"] == "-2"
    # gemini-2.5-flash: 10,000 x $0.30/M + 1,000 x $2.50/M = $0.0055; x 100 = $0.55;
    # saving $2.95, x 2 = $5.90 a month.
    assert verified.candidate(GEMINI_MODEL)["repricing"]["monthly_saving"] == "5.9"
    assert verified.report["assumptions"] == [
        "the same token counts on the candidate; its tokenizer may count differently"
    ]


def test_the_sample_cost_is_the_ledger_cost_of_the_replays(verified: Verified) -> None:
    # Each replay is billed as its transcript's usage:
    # gpt-4o-mini: 10 in x $0.15/M + 6 out x $0.60/M = $0.0000051; x 3 = $0.0000153.
    assert verified.candidate(OPENAI_MODEL)["sample_cost"] == "0.0000153"
    # claude-sonnet-4: 25 in x $3/M + 1,800 cache reads x $0.30/M + 15 out x $15/M
    # = $0.000075 + $0.00054 + $0.000225 = $0.00084; x 3 = $0.00252.
    assert verified.candidate(ANTHROPIC_MODEL)["sample_cost"] == "0.00252"


def test_the_replays_are_a_lab_run_in_the_ledger(verified: Verified) -> None:
    with open_store(verified.database) as store:
        rows = run_rows(store, verified.report["run_id"])
        found = latest_verification(store, "support")
        assert latest_verification(store, "nightly") is None
    assert len(rows) == 9  # 3 replays x 3 models, each a ledger row tagged with the run
    assert {row["feature"] for row in rows} == {"lab"}  # not counted as the feature's traffic
    assert found is not None
    assert found.run_id == verified.report["run_id"]
    assert found.feature == "support" and found.status == "complete" and found.sample == 3
    assert found.agreement_min == Decimal("0.6")
    assert found.checks == ("regex ^(Hello|Once)", "contains help")
    mini = found.candidate(OPENAI_MODEL)
    assert mini is not None
    assert (mini.replays, mini.agreed, mini.checks_passed, mini.failed, mini.pending) == (
        3, 2, 3, 0, 0,
    )  # fmt: skip
    assert mini.cost == Decimal("0.0000153")
    assert found.when >= found.started_at


def test_the_table_fits_80_columns_and_shows_the_saving(verified: Verified) -> None:
    done = _verify(
        "support", "--models", OPENAI_MODEL, *PERIOD, "--sample", "2",
        database=verified.database, config=verified.config,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, done.stdout
    row = next(line for line in lines if line.strip().startswith(OPENAI_MODEL))
    assert usd(Decimal("6.58")) in row  # the same move, the same saving
    assert "assumes: the same token counts on the candidate" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--models", OPENAI_MODEL], "unknown feature 'nope'"),
        (["nightly", "--models", OPENAI_MODEL], "none with a whole stored request"),
        (["support", "--models", "gpt-nonexistent-9"], "unknown model 'gpt-nonexistent-9'"),
        (["support", "--models", OPENAI_MODEL, "--check", "regex: ("], "not a regular"),
        (
            ["support", "--models", OPENAI_MODEL, "--check", "frobnicate: 1"],
            "frobnicate: Extra inputs",
        ),
        (["support", "--models", OPENAI_MODEL, "--agreement", "2"], "--agreement"),
        (["support", "--models", OPENAI_MODEL, "--check", "{name: agreement, regex: x}"], "kept"),
    ],
)
def test_bad_input_is_a_message_and_exit_code_1(
    verified: Verified, args: list[str], message: str
) -> None:
    done = _verify(*args, *PERIOD, database=verified.database, config=verified.config)
    assert done.exit_code == 1, done.output
    assert message in " ".join(done.output.split())
    assert "Traceback" not in done.output


def test_advise_without_a_subcommand_still_advises(verified: Verified) -> None:
    done = CliRunner().invoke(app, ["advise", *PERIOD, "--json", "--database", verified.database])
    assert done.exit_code == 0, done.output
    assert {"since", "until", "recommendations"} <= set(json.loads(done.stdout))


def test_local_model_replays(tmp_path: Path, catalog: Catalog) -> None:
    """Two prompts of feature ``faq`` replayed through ``local/smollm2`` (really run).
    The recorded answers are empty, so a worded answer agrees with none (F1 0)."""
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    b = LedgerBuilder(catalog)
    for i in range(10):
        call_id = b.add("faq", "gpt-4o", SINCE + dt.timedelta(days=i), SMALL)
        request = {"messages": [{"role": "user", "content": "Say hello."}], "temperature": 0}
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}}]}
        b.bodies.append(CallBodies(call_id, json.dumps(request), json.dumps(answer)))
    with open_store(database) as store:
        b.store(store)
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
        config = gateway_config(tmp_path, upstream.url, local=True)
        done = _verify(
            "faq", "--models", "local/smollm2", *PERIOD, "--sample", "2", "--max-tokens", "8",
            "--check", r"regex: '\w'", "--json", database=database, config=config,
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    (local,) = report["candidates"]
    assert (local["replays"], local["checks_passed"], local["agreed"]) == (2, 2, 0)
    # gpt-4o: 10 calls x $0.035 = $0.35. SmolLM2 on the example machine: $0.126/h over
    # 750 input and 75 output tokens/s = $0.0467/M input, $0.467/M output:
    # 10 x (10,000 x $0.0467/M + 1,000 x $0.467/M) = 10 x $0.000933 = $0.00933;
    # saving $0.3407 over 15 days, x 2 = $0.68 a month.
    assert usd(Decimal(local["repricing"]["monthly_saving"])) == "$0.68"
    with open_store(database) as store:
        rows = run_rows(store, report["run_id"])
    assert len(rows) == 2 and {row["model_requested"] for row in rows} == {"local/smollm2"}


def test_word_f1_by_hand() -> None:
    from fractions import Fraction

    from llmtally.advisor.verify_agree import agrees, token_f1

    # {the, cat, sat} vs {the, cat, ran, away}: 2 x 2 / (3 + 4) = 4/7.
    assert token_f1("The cat sat.", "the CAT ran away") == Fraction(4, 7)
    assert token_f1("", "") == 1 and token_f1("", "words") == 0
    # 3 of 5 exactly: {a, b, c} vs {a, b, c, d, e, f, g}: 2 x 3 / 10 = 0.6, meets 0.6.
    assert agrees("a b c", "a b c d e f g", Decimal("0.6"))
    assert not agrees("a b c", "a b c d e f g h", Decimal("0.6"))  # 6/11


def test_spread_positions() -> None:
    from llmtally.advisor.verify_sample import spread

    assert spread(40, 4) == [5, 15, 25, 35]  # (2k + 1) x 40 // 8
    assert spread(3, 20) == [0, 1, 2]
    assert spread(10, 1) == [5]


@pytest.mark.parametrize(
    ("endpoint", "request_body", "expected"),
    [
        (
            "/v1/messages",
            {
                "system": [{"type": "text", "text": "Be brief."}],
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            },
            ("Be brief.", "Hi"),
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            },
            ("Be brief.", "Hi"),
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "developer", "content": "Be brief."},
                          {"role": "user", "content": "Hi"}]},
            ("Be brief.", "Hi"),
        ),
    ],
)  # fmt: skip
def test_each_chat_shape_becomes_the_lab_prompt(
    endpoint: str, request_body: dict[str, Any], expected: tuple[str, str]
) -> None:
    from llmtally.advisor.verify_sample import prompt_of

    assert prompt_of(endpoint, request_body) == expected


@pytest.mark.parametrize(
    ("endpoint", "request_body", "reason"),
    [
        ("/v1/responses", {"input": "Hi"}, "not a chat request"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "not text",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "function"}]},
            "tools",
        ),
        (
            "/v1/messages",
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}]},
            "several turns",
        ),
    ],
)  # fmt: skip
def test_what_the_lab_cannot_replay_says_why(
    endpoint: str, request_body: dict[str, Any], reason: str
) -> None:
    from llmtally.advisor.verify_sample import Unreplayable, prompt_of

    with pytest.raises(Unreplayable, match=reason):
        prompt_of(endpoint, request_body)


def test_checks_from_a_file_with_a_python_check_beside_it(verified: Verified) -> None:
    """``--checks`` reads the lab's check list; a Python check's file is found beside
    the checks file (the experiment is written elsewhere). "Hello! How can I help?"
    is 22 characters: under 30 passes, and it ends with "?"."""
    folder = verified.tmp / "checks"
    folder.mkdir(exist_ok=True)
    (folder / "mine.py").write_text(
        "def asks(output, row):\n    return output.rstrip().endswith('?')\n"
    )
    (folder / "checks.yaml").write_text(
        "checks:\n  - {length: {max: 30}}\n  - {python: 'mine.py:asks', name: asks back}\n"
    )
    done = _verify(
        "support", "--models", OPENAI_MODEL, *PERIOD, "--sample", "2", "--json",
        "--checks", str(folder / "checks.yaml"),
        database=verified.database, config=verified.config,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["checks"] == ["length 0..30 chars", "asks back"]
    (mini,) = report["candidates"]
    assert (mini["replays"], mini["checks_passed"]) == (2, 2)


def test_a_budget_stop_is_reported_and_not_taken_as_evidence(verified: Verified) -> None:
    # One replay's worst case is its prompt plus --max-tokens 2,000 at $0.60/M
    # (over $0.0012): above --max-usd $0.0001, so nothing is sent.
    done = _verify(
        "support", "--models", OPENAI_MODEL, *PERIOD, "--sample", "2", "--json",
        "--max-tokens", "2000", "--max-usd", "0.0001",
        database=verified.database, config=verified.config,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["status"] == "budget" and "--max-usd" in report["stop_reason"]
    (mini,) = report["candidates"]
    assert (mini["replays"], mini["pending"], mini["sample_cost"]) == (0, 2, "0")
    assert mini["repricing"]["monthly_saving"] == "6.58"  # priced without a replay
    with open_store(verified.database) as store:
        found = latest_verification(store, "support")
    assert found is not None and found.run_id != report["run_id"]  # an earlier run
    assert found.status == "complete"


def test_a_missing_api_key_is_named_before_any_call(tmp_path: Path, verified: Verified) -> None:
    config = tmp_path / "llmtally.yaml"
    config.write_text(
        "upstreams:\n"
        "  openai: {kind: openai, base_url: 'http://127.0.0.1:9', api_key_env: VERIFY_NO_KEY}\n"
        "routes:\n  - {match: '*', upstream: openai}\n"
    )
    done = _verify(
        "support", "--models", OPENAI_MODEL, *PERIOD, database=verified.database, config=config
    )
    assert done.exit_code == 1
    assert "$VERIFY_NO_KEY" in done.output and "Traceback" not in done.output


def test_a_machine_of_your_own_without_a_catalog_price_replays_with_no_saving(
    tmp_path: Path, verified: Verified
) -> None:
    """An upstream priced by the hour (``usd_per_hour``) whose model the catalog does
    not price is replayed; its saving is unknown (null), not $0."""
    config = tmp_path / "llmtally.yaml"
    replay_url = gateway_url(verified.config)
    config.write_text(
        "upstreams:\n"
        f"  mine: {{kind: openai, base_url: '{replay_url}', provider: local, usd_per_hour: '1'}}\n"
        "routes:\n  - {match: '*', upstream: mine}\n"
    )
    done = _verify(
        "support", "--models", OPENAI_MODEL, *PERIOD, "--sample", "1", "--json",
        database=verified.database, config=config,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (mine,) = json.loads(done.stdout)["candidates"]
    assert mine["replays"] == 1
    assert mine["repricing"]["calls"] == 0 and mine["repricing"]["unpriced"] == 100
    assert mine["repricing"]["monthly_saving"] is None


def gateway_url(config: Path) -> str:
    """The replay upstream's URL in a config written by ``gateway_config``."""
    line = next(line for line in config.read_text().splitlines() if "openai:" in line)
    return line.split("base_url: '", 1)[1].split("'", 1)[0]


# --- --effort: a lower reasoning effort, replayed -------------------------------------

REASONED = Usage(input_tokens=1_000, output_tokens=5_000, reasoning_tokens=4_000)
ANSWER = "The answer is 391."  # the o3-mini transcript's (openai_chat_stream_o3_mini_low.json)


def reasoning_ledger(b: LedgerBuilder, feature: str, calls: int, streamed: bool = False) -> None:
    """``calls`` o3-mini calls of ``feature``, 3 h apart from SINCE, each 1,000 input
    and 5,000 output tokens of which 4,000 reasoning, asked at effort high, with
    distinct stored one-turn requests answered with ANSWER."""
    for i in range(calls):
        at = SINCE + dt.timedelta(hours=3 * i)
        call_id = b.add(feature, "o3-mini", at, REASONED, streamed=streamed)
        request = {
            "model": "o3-mini",
            "reasoning_effort": "high",
            "messages": [{"role": "user", "content": f"What is 17 * 23? ({feature} {i})"}],
        }
        message = {"role": "assistant", "content": ANSWER}
        answer = {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}
        b.bodies.append(CallBodies(call_id, json.dumps(request), json.dumps(answer)))


def test_a_lower_effort_is_replayed_and_its_reasoning_measured(
    tmp_path: Path, catalog: Catalog
) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    b = LedgerBuilder(catalog)
    reasoning_ledger(b, "ponder", 20)
    with open_store(database) as store:
        b.store(store)
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
        config = gateway_config(tmp_path, upstream.url)
        done = _verify(
            "ponder", "--models", "o3-mini", "--effort", "low", *PERIOD, "--sample", "4",
            "--check", "contains: is 391", "--json", database=database, config=config,
        )  # fmt: skip
        sent = [s.json for s in upstream.served]
        table = _verify(
            "ponder", "--models", "o3-mini", "--effort", "low", *PERIOD, "--sample", "4",
            database=database, config=config,
        )  # fmt: skip
    assert table.exit_code == 0, table.output
    said = " ".join(table.stdout.split())
    assert "o3-mini@low: reasoning 4,000 tokens over the replays, 16,000 in the recorded" in said
    assert "same prompts (25%)" in said
    assert done.exit_code == 0, done.output
    assert len(sent) == 4 and {s["reasoning_effort"] for s in sent} == {"low"}
    assert not any("temperature" in s for s in sent)
    report = json.loads(done.stdout)
    assert report["effort"] == "low"
    (low,) = report["candidates"]
    assert (low["model"], low["effort"], low["replays"], low["agreed"]) == (
        "o3-mini@low",
        "low",
        4,
        4,
    )
    # each replay: 1,100 output tokens, 1,000 reasoning (the transcript); each recorded
    # call: 5,000 output, 4,000 reasoning. 4 of each: ratio 4,000 / 16,000 = 0.25.
    assert low["tokens"] == {
        "replay_output": 4_400,
        "replay_reasoning": 4_000,
        "recorded_output": 20_000,
        "recorded_reasoning": 16_000,
        "reasoning_ratio": 0.25,
    }
    with open_store(database) as store:
        found = latest_verification(store, "ponder")
    assert found is not None
    evidence = found.candidate("o3-mini@low")
    assert evidence is not None and evidence.effort == "low"
    assert evidence.reasoning_ratio == Fraction(1, 4)
    assert found.candidate("o3-mini") is None


def test_a_thinking_budget_reaches_claude_and_gemini(verified: Verified) -> None:
    models = f"{ANTHROPIC_MODEL},{GEMINI_MODEL}"
    folder = verified.tmp / "budget"
    folder.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch, ReplayUpstream() as upstream:
        patch.setenv("LLMTALLY_HOME", str(folder / "home"))
        config = gateway_config(folder, upstream.url)
        done = _verify(
            "support", "--models", models, "--effort", "budget:2048", *PERIOD, "--sample", "1",
            "--json", database=verified.database, config=config,
        )  # fmt: skip
        sent = [s.json for s in upstream.served]
    assert done.exit_code == 0, done.output
    claude = next(s for s in sent if s.get("model") == ANTHROPIC_MODEL)
    assert claude["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # the recorded answers are 1,000 tokens: 2 x 1,000 of answer room above the budget
    assert claude["max_tokens"] == 4_048 and "temperature" not in claude  # recorded at 0
    gemini = next(s for s in sent if "generationConfig" in s)
    assert gemini["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048}
    names = [c["model"] for c in json.loads(done.stdout)["candidates"]]
    assert names == [f"{ANTHROPIC_MODEL}@budget:2048", f"{GEMINI_MODEL}@budget:2048"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", OPENAI_MODEL, "--effort", "budget:1024"], "takes a reasoning effort"),
        (["--models", OPENAI_MODEL, "--effort", "lowest"], "--effort 'lowest': one of minimal"),
        (["--models", ANTHROPIC_MODEL, "--effort", "budget:512"], "at least 1024"),
        (
            ["--models", ANTHROPIC_MODEL, "--effort", "low", "--max-tokens", "1000"],
            "give more than 1024",
        ),
    ],
)
def test_an_effort_a_provider_refuses_is_a_message(
    verified: Verified, args: list[str], message: str
) -> None:
    done = _verify("support", *args, *PERIOD, database=verified.database, config=verified.config)
    assert done.exit_code == 1, done.output
    assert message in " ".join(done.output.split())
    assert "Traceback" not in done.output
