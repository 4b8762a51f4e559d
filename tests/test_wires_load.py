"""The issue-17 wires under load: hundreds of simultaneous calls, several gateway
processes on one ledger, and hostile bodies among good ones (the house rule:
concurrency is part of correctness).

The upstreams are the wire tests' replays of each documented wire format
(tests/test_wires_china.py, test_wires_azure.py, test_wires_bedrock.py, their
API references cited there) and the per-call costs are test_wires_costs.py's
hand-worked cases (pricing pages cited there); the totals below are those
figures times the count, worked out by hand. The CNY -> USD rate is the
"test: our bank" row, 1 CNY = 0.14 USD today (tests/currency_support.py).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import test_wires_azure as azure_wire
import test_wires_bedrock as bedrock_wire
import test_wires_china as china_wire
import test_wires_costs as costs
from currency_support import bank_rate_today
from gateway_support import live_gateway
from llmtally.budgets.book import BudgetBook
from llmtally.budgets.counters import BudgetCounters
from llmtally.catalog import Catalog
from llmtally.currency import open_rates
from llmtally.gateway.budget_gate import BudgetGate
from llmtally.gateway.http_parts import decode_request
from llmtally.gateway.keys import KeyGate
from llmtally.ledger import LedgerWriter, open_store
from llmtally.ledger.keys import KeyStore
from replay_upstream import ReplayUpstream
from test_ledger_support import db_url, pg_base_url  # noqa: F401
from wires_load_support import (
    Answer,
    check_answer,
    deeper_backlog,
    ledger_rows,
    mixed_config,
    priced,
    send,
    serve_processes,
    transcripts,
)

D = Decimal
RATE = "0.14"  # bank_rate_today's 1 CNY in USD


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's data folder with today's rate; the gateway's Azure and AWS keys;
    the Bedrock replay answering the Sonnet 5 ids with test_wires_costs' CONVERSE."""
    folder = tmp_path / "home"
    folder.mkdir()
    bank_rate_today(folder)
    monkeypatch.setenv("LLMTALLY_HOME", str(folder))
    monkeypatch.delenv("LLMTALLY_RATES", raising=False)
    monkeypatch.setenv("LLMTALLY_TEST_AZURE_KEY", azure_wire.GATEWAY_KEY)
    monkeypatch.setenv("LLMTALLY_TEST_AWS_KEY_ID", bedrock_wire.GATEWAY_KEY_ID)
    monkeypatch.setenv("LLMTALLY_TEST_AWS_SECRET", bedrock_wire.GATEWAY_SECRET)
    for case in costs.BEDROCK_CASES:
        monkeypatch.setitem(bedrock_wire.REPLIES, case.model, case.reply or costs.CONVERSE)
    return folder


@pytest.fixture
def bedrock() -> Iterator[bedrock_wire.BedrockReplay]:
    with bedrock_wire.BedrockReplay() as replay:
        deeper_backlog(replay.server)
        yield replay


# -- 1. 300 calls at once, twelve kinds on six wires ----------------------------------

# test_wires_costs' cases, 25 calls of each: 12 x 25 = 300. Each (path, model, stream) is
# distinct, so the one replay upstream answers each with its own transcript.
MIX = [priced(name) for name in (
    "qwen3-max-32k", "qwen-plus-thinking",  # DashScope, CNY; the second an SSE stream
    "doubao-seed-1.8-long", "doubao-seed-1.8-stream",  # Ark, CNY, past the output cliff
    "kimi-k2.5", "glm-5.1",  # Kimi and Zhipu, CNY
    "azure-global", "azure-datazone", "azure-datazone-stream",  # Azure deployments, USD
    "bedrock-regional", "bedrock-global", "bedrock-global-stream",  # Converse(Stream), USD
)]  # fmt: skip
EACH = 25
# Per provider: (calls, billed CNY total, USD cost_total), each call's figures from
# test_wires_costs (its comments work them out from the price files) times 25:
TOTALS = {
    # 25 x 0.054152 + 25 x 0.0044 = 1.3538 + 0.11 = 1.4638 CNY;
    # 25 x 0.00758128 + 25 x 0.000616 = 0.189532 + 0.0154 = 0.204932 USD
    "alibaba-cn": (50, D("1.4638"), D("0.204932")),
    # 50 x 0.00683392 = 0.341696 CNY; 50 x 0.0009567488 = 0.04783744 USD
    "volcengine": (50, D("0.341696"), D("0.04783744")),
    # 25 x 0.0032386 = 0.080965 CNY; 25 x 0.000453404 = 0.0113351 USD
    "moonshot-cn": (25, D("0.080965"), D("0.0113351")),
    # 25 x 0.0037856 = 0.09464 CNY; 25 x 0.000529984 = 0.0132496 USD
    "zhipu": (25, D("0.09464"), D("0.0132496")),
    # 25 x 0.00136 = 0.034 USD
    "azure": (25, None, D("0.034")),
    # 50 x 0.001496 = 0.0748 USD
    "azure-datazone": (50, None, D("0.0748")),
    # 25 x 0.00374 + 25 x 0.0034 + 25 x 0.0014196 = 0.0935 + 0.085 + 0.03549 = 0.21399 USD
    "bedrock": (75, None, D("0.21399")),
}


NAMED = {f"{case.name}#{i}": case for case in MIX for i in range(EACH)}  # by feature


async def _mixed_burst(url: str) -> dict[str, Answer]:
    """Every call of MIX at once, each named by its feature ``<case>#<i>``."""
    limits = httpx.Limits(max_connections=len(NAMED))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        answers = await asyncio.gather(*(send(http, case, f) for f, case in NAMED.items()))
    return dict(zip(NAMED, answers, strict=True))


def test_three_hundred_simultaneous_calls_on_six_wires_are_each_recorded_once_at_their_cost(
    home: Path, tmp_path: Path, bedrock: bedrock_wire.BedrockReplay
) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with transcripts(MIX) as replay, open_store(database) as store:
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        config = mixed_config(replay.url, bedrock.url)
        with live_gateway(config, Catalog.load(), writer) as (url, _):
            answers = asyncio.run(_mixed_burst(url))
        assert writer.close(timeout=30)
    for feature, answer in answers.items():  # each client got its own case's answer, whole
        check_answer(NAMED[feature], answer)
    assert len(replay.served) == 9 * EACH and len(bedrock.seen) == 3 * EACH
    assert all(seen.signature_ok for seen in bedrock.seen)
    rows = ledger_rows(database)
    # exactly one row per call: 300 rows, 300 ids, the 300 features each once
    assert len(rows) == len(answers) == len(MIX) * EACH
    assert len({row["id"] for row in rows}) == len(rows)
    assert sorted(row["feature"] for row in rows) == sorted(answers)
    for row in rows:  # every row priced at its own case's hand-worked figures
        case = NAMED[row["feature"]]
        assert (row["status"], row["cost_error"]) == (200, None), row
        assert (row["provider"], row["price_id"]) == (case.provider, case.price_id)
        assert row["long_context_above"] == case.above, case.name  # Ark's output cliff: 0
        assert row["cost_total"] == D(case.cost_total), case.name
        billed = (row["billed_currency"], row["billed_total"], row["fx_rate"])
        cny = ("CNY", D(case.billed), RATE) if case.billed else (None, None, None)
        assert billed == cny, case.name
    assert _totals(rows) == TOTALS


def _totals(rows: list[dict[str, Any]]) -> dict[str, tuple[int, Decimal | None, Decimal]]:
    """Per provider: the calls, the billed CNY total (None: USD) and the USD total."""
    found: dict[str, list[Any]] = defaultdict(lambda: [0, None, D(0)])
    for row in rows:
        total = found[row["provider"]]
        total[0] += 1
        if row["billed_currency"] == "CNY":
            total[1] = (total[1] or D(0)) + row["billed_total"]
        total[2] += row["cost_total"]
    return {provider: (n, cny, usd) for provider, (n, cny, usd) in found.items()}


# -- 2. a CNY budget shared by two gateway processes -----------------------------------

# qwen-plus on DashScope (alibaba_cn.yaml, 0<Token<=128K: input 0.8, output 2 non-thinking
# CNY per 1M). It counts with Alibaba's Qwen vocabulary (exact), so each body's message is
# padded with digits (one token each in that vocabulary) until the gateway counts its
# prompt at exactly 250 tokens (counted_body), with max_tokens 50, streamed or not. Worst
# case 250 x 0.8 + 50 x 2 = 200 + 100 = 300 per 1M = 0.0003 CNY = 0.0003 x 0.14 = 0.000042
# USD, and the replay answers 250 prompt + 50 completion tokens: each call settles at what
# it reserved. The key's budget: 0.0073 CNY a day; 24 x 0.0003 = 0.0072 <= 0.0073 < 25 x
# 0.0003 = 0.0075, so 24 calls fit (in USD: 24 x 0.000042 = 0.001008).
QWEN_PLUS = "qwen-plus"
PROMPT_TOKENS, MAX_TOKENS = 250, 50
EACH_CNY, EACH_USD = D("0.0003"), D("0.000042")
LIMIT_CNY, FITS = D("0.0073"), 24
PER_PROCESS = 160


def counted_body(tokens: int, **fields: Any) -> bytes:
    """A chat request of ``fields`` whose one user message is digits, as many as make
    the gateway count its prompt at exactly ``tokens`` (qwen-plus: the Qwen vocabulary
    splits digits one token each; the count includes the chat template's tokens)."""
    from llmtally.providers.wires import OPENAI_CHAT
    from llmtally.tokens.registry import default_registry

    _, tokenizer = default_registry().for_model(QWEN_PLUS, "alibaba-cn")
    for pad in range(tokens + 1):
        request = {**fields, "messages": [{"role": "user", "content": "7" * pad}]}
        counted = OPENAI_CHAT.count_prompt(request, tokenizer, QWEN_PLUS)
        assert counted is not None
        if counted.total == tokens:
            return json.dumps(request, separators=(",", ":")).encode()
    raise AssertionError(f"no digit padding counts {tokens} tokens")


def _qwen_transcripts(reasoning: int = 0) -> dict[str, dict[str, Any]]:
    """qwen-plus answering 250 prompt + 50 completion tokens (``reasoning`` of them
    thinking), whole and streamed (test_wires_china's shapes; DASHSCOPE's usage)."""
    path = costs.DASHSCOPE_PATH
    usage: dict[str, Any] = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": MAX_TOKENS,
                             "total_tokens": PROMPT_TOKENS + MAX_TOKENS}  # fmt: skip
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    events = [
        china_wire._chunk(QWEN_PLUS, {"role": "assistant", "content": "你好"}),
        china_wire._chunk(QWEN_PLUS, {}, "stop"),
        china_wire._usage_chunk(QWEN_PLUS, usage),
        "data: [DONE]",
    ]
    body = china_wire._answer(QWEN_PLUS, usage)
    return {
        "whole": china_wire._transcript(china_wire.DASHSCOPE, path, QWEN_PLUS, False, body=body),
        "stream": china_wire._transcript(china_wire.DASHSCOPE, path, QWEN_PLUS, True,
                                         events=events),
    }  # fmt: skip


def _dashscope_yaml(replay: str) -> str:
    return (
        "upstreams:\n"
        f"  dashscope: {{preset: dashscope, base_url: '{replay}/compatible-mode/v1'}}\n"
        "routes:\n"
        "  - {match: 'qwen*', upstream: dashscope}\n"
    )


async def _budget_burst(
    urls: list[str], secret: str, each: int
) -> tuple[list[httpx.Response], int]:
    """``each`` calls at once on every gateway, half of them streamed; a 503 of a busy
    budget store (SQLite under load: nothing reserved) is sent again, and counted."""
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    fields: dict[str, Any] = {"model": QWEN_PLUS, "max_tokens": MAX_TOKENS}
    fields["enable_thinking"] = False  # the budget reserves at the non-thinking output rate
    bodies = [
        counted_body(PROMPT_TOKENS, **fields),
        counted_body(PROMPT_TOKENS, stream=True, **fields),
    ]
    busy = 0

    async def one(http: httpx.AsyncClient, i: int) -> httpx.Response:
        nonlocal busy
        for _ in range(20):
            answer = await http.post("/v1/chat/completions", content=bodies[i % 2], headers=headers)
            if answer.status_code != 503 or "budget store" not in answer.text:
                return answer
            busy += 1
        raise AssertionError("the budget store stayed busy")

    limits = httpx.Limits(max_connections=each)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=60) for url in urls]
    try:
        sent = [one(http, i) for http in clients for i in range(each)]
        return list(await asyncio.gather(*sent)), busy
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))


def test_a_cny_budget_is_never_overspent_by_two_gateway_processes(
    home: Path,
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    with open_store(db_url) as store:
        made = KeyStore(store).create("cny-load")
        budget = BudgetBook(store, open_rates()).add(
            "key", made.key.id, "usd", "day", LIMIT_CNY, currency="CNY"
        )
    # in USD: 0.0073 / (1 / 0.14 = 7.142857142857142857142857143 to 28 digits)
    # = 0.00102199999999...9944, rounded down to 10 places (never above the CNY limit)
    assert budget.amount == D("0.0010219999")
    with ReplayUpstream(_qwen_transcripts()) as replay:
        with serve_processes(tmp_path, _dashscope_yaml(replay.url), db_url, 2, home) as runs:
            answers, busy = asyncio.run(
                _budget_burst([run.url for run in runs], made.secret, PER_PROCESS)
            )
        assert len(replay.served) == FITS  # a refused call never went upstream
    print(f"budget store busy, sent again: {busy}")
    for run in runs:
        assert run.process.returncode == 0, run.err
        assert "Traceback" not in run.err, run.err
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: FITS, 429: 2 * PER_PROCESS - FITS}
    for answer in answers:
        if answer.status_code == 429:  # OpenAI's shape: its SDK raises RateLimitError
            error = answer.json()["error"]
            assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
            assert "0.0003 CNY at 1 CNY = 0.14 USD" in error["message"]
    rows = ledger_rows(db_url)  # the refused calls left no row
    assert len(rows) == FITS and {row["status"] for row in rows} == {200}
    assert sum(row["billed_total"] for row in rows) == FITS * EACH_CNY  # 0.0072 <= 0.0073
    assert sum(row["cost_total"] for row in rows) == FITS * EACH_USD  # 0.001008 USD
    with open_store(db_url) as store:
        state = BudgetCounters(store).state([budget])[budget.id]
    assert state == (FITS * EACH_USD, D(0))  # settled at 0.001008, nothing left reserved
    assert state[0] <= budget.amount


# -- 3. hostile bodies among good ones -------------------------------------------------

LIMIT_BYTES = 32 * 1024
QWEN_PATH = "/v1/chat/completions"
CONVERSE_PATH = "/model/global.anthropic.claude-sonnet-5/converse"
DEEP = b'{"model":"qwen3-max","x":' + b"[" * 100 + b"]" * 100 + b"}"
# (name, path, body, content type, status, words in the message): five of each at once
HOSTILE = [
    ("qwen-oversized", QWEN_PATH, b'{"model":"qwen3-max","x":"' + b"x" * 40_000 + b'"}',
     "application/json", 413, f"over the limit of {LIMIT_BYTES} bytes"),
    ("qwen-not-json", QWEN_PATH, b"{not json", "application/json", 400, "malformed JSON"),
    ("qwen-array", QWEN_PATH, b"[1, 2]", "application/json", 400, "a JSON object"),
    ("qwen-deep", QWEN_PATH, DEEP, "application/json", 400, "nests deeper than 64 levels"),
    ("qwen-not-utf8", QWEN_PATH, b'{"model":"qwen\xff"}', "application/json", 400,
     "malformed JSON"),
    ("qwen-no-model", QWEN_PATH, b'{"messages":[]}', "application/json", 400, "no 'model'"),
    ("qwen-unrouted", QWEN_PATH, b'{"model":"nobody-routes-this"}', "application/json", 404,
     "no route for model 'nobody-routes-this'"),
    ("qwen-text", QWEN_PATH, b'{"model":"qwen3-max"}', "text/plain", 415, "takes application/json"),
    ("qwen-empty", QWEN_PATH, b"", "application/json", 400, "malformed JSON"),
    # valid JSON whose \ud800 escape is no Unicode text: the ledger cannot store it
    ("qwen-surrogate-user", QWEN_PATH,
     b'{"model":"qwen3-max","user":"u\\ud800","messages":[]}', "application/json", 400,
     "lone surrogate"),
    ("qwen-surrogate-utf16", QWEN_PATH,
     '{"model":"qwen3-max","user":"\\ud800","messages":[]}'.encode("utf-16-le"),
     "application/json", 400, "lone surrogate"),
    ("qwen-surrogate-content", QWEN_PATH,
     b'{"model":"qwen3-max","messages":[{"role":"user","content":"\\udc00"}]}',
     "application/json", 400, "lone surrogate"),
    ("converse-oversized", CONVERSE_PATH, b'{"x":"' + b"x" * 40_000 + b'"}', "application/json",
     413, f"over the limit of {LIMIT_BYTES} bytes"),
    ("converse-not-json", CONVERSE_PATH, b"{nope", "application/json", 400, "malformed JSON"),
    ("converse-array", CONVERSE_PATH, b"[]", "application/json", 400, "a JSON object"),
    ("converse-deep", CONVERSE_PATH, DEEP, "application/json", 400, "nests deeper than 64"),
    ("converse-not-utf8", CONVERSE_PATH, b'{"messages":"\xc3("}', "application/json", 400,
     "malformed JSON"),
    ("converse-bad-id", "/model/a%20b/converse", b"{}", "application/json", 400,
     "printable characters"),
    ("converse-unrouted", "/model/meta.llama3-70b-instruct-v1%3A0/converse", b"{}",
     "application/json", 404, "no route for model 'meta.llama3-70b-instruct-v1:0'"),
    ("converse-text", CONVERSE_PATH, b"{}", "text/plain", 415, "takes application/json"),
    ("converse-empty", CONVERSE_PATH, b"", "application/json", 400, "malformed JSON"),
    ("converse-surrogate", CONVERSE_PATH,
     b'{"messages":[{"role":"user","content":[{"text":"\\ud83d"}]}]}', "application/json",
     400, "lone surrogate"),
]  # fmt: skip
COPIES = 5  # 22 kinds x 5 = 110 bad, with 2 x 50 = 100 good
BEDROCK_ERRORS = {400: "ValidationException", 404: "ResourceNotFoundException",
                  413: "ValidationException", 415: "ValidationException"}  # fmt: skip


def _check_refusal(kind: tuple[Any, ...], answer: httpx.Response) -> None:
    """A JSON error in the shape of the family the path speaks, with no traceback."""
    name, path, _, _, status, words = kind
    assert answer.status_code == status, (name, answer.text[:300])
    assert b"Traceback" not in answer.content and b'File "' not in answer.content, name
    if path.startswith("/model/"):  # Bedrock: {"message"} and the error's name in a header
        assert answer.headers["x-amzn-errortype"] == BEDROCK_ERRORS[status], name
        assert set(answer.json()) == {"message"} and words in answer.json()["message"], name
        return
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, name
    assert words in error["message"], (name, error["message"])


async def _hostile_burst(url: str, key: str) -> tuple[dict[str, Answer], list[httpx.Response]]:
    """HOSTILE's bodies COPIES times, each beside a good call, all at once."""
    bad = [kind for _ in range(COPIES) for kind in HOSTILE]
    auth = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=300)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        refused = [
            http.post(path, content=body, headers={"content-type": kind, **auth})
            for _, path, body, kind, _, _ in bad
        ]
        sent = [send(http, case, feature, key) for feature, case in GOOD.items()]
        done = await asyncio.gather(*refused[: len(sent)], *sent, *refused[len(sent) :])
    answers = [a for a in done if isinstance(a, Answer)]
    refusals = [a for a in done if isinstance(a, httpx.Response)]
    return dict(zip(GOOD, answers, strict=True)), refusals


# 50 DashScope and 50 Bedrock Converse calls (test_wires_costs' qwen3-max-32k and
# bedrock-global), under a key whose budget ($100 a day) holds them all
GOOD = {f"{name}#{i}": priced(name) for i in range(50) for name in ("qwen3-max-32k",
                                                                    "bedrock-global")}  # fmt: skip


def test_hostile_bodies_among_good_calls_get_their_wire_s_errors_and_the_good_are_recorded(
    home: Path, tmp_path: Path, bedrock: bedrock_wire.BedrockReplay
) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    with transcripts(list(GOOD.values())) as replay, open_store(database) as store:
        made = KeyStore(store).create("hostile", D("100"), "day")
        catalog = Catalog.load()
        gate, budgets = KeyGate(KeyStore(store)).start(), BudgetGate(store, catalog).start()
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        config = {**mixed_config(replay.url, bedrock.url), "max_body_bytes": LIMIT_BYTES}
        try:
            with live_gateway(config, catalog, writer, gate=gate, budgets=budgets) as (url, _):
                answers, refusals = asyncio.run(_hostile_burst(url, made.secret))
        finally:
            budgets.close()
            gate.close()
        assert writer.close(timeout=30)
        [budget] = [b for b in budgets.book.all() if b.subject == made.key.id]
        state = BudgetCounters(store).state([budget])[budget.id]
    for kind, refusal in zip([k for _ in range(COPIES) for k in HOSTILE], refusals, strict=True):
        _check_refusal(kind, refusal)
    for feature, answer in answers.items():
        check_answer(GOOD[feature], answer)
    assert len(replay.served) == 50 and len(bedrock.seen) == 50  # no bad one went upstream
    rows = ledger_rows(database)
    assert sorted(row["feature"] for row in rows) == sorted(GOOD)  # the good, each once
    assert all(row["cost_total"] == D(GOOD[row["feature"]].cost_total) for row in rows)
    # the budget counted the good ones, each at its cost, and holds nothing for the bad:
    # 50 x 0.00758128 + 50 x 0.0034 = 0.379064 + 0.17 = 0.549064 USD
    assert state == (D("0.549064"), D(0))


@pytest.mark.parametrize(
    ("text", "user"),
    [  # an emoji as Python's json.dumps writes it: a pair, one character (and Chinese text)
        (json.dumps({"model": "qwen3-max", "user": "\U0001f600 你好"}), "\U0001f600 你好"),
        ('{"model":"qwen3-max","user":"\\\\ud800"}', "\\ud800"),  # an escaped backslash
    ],
    ids=["pair", "escaped-backslash"],
)
def test_a_surrogate_pair_or_an_escaped_backslash_is_text(text: str, user: str) -> None:
    assert decode_request(text.encode(), "application/json") == {"model": "qwen3-max", "user": user}


# -- known bugs, each shown by a failing test ------------------------------------------


def _budgeted(store: Any, limit_cny: Decimal) -> tuple[str, Any]:
    """A gateway key with a CNY budget of ``limit_cny`` a day: its secret and budget."""
    made = KeyStore(store).create("cny-thinking")
    budget = BudgetBook(store, open_rates()).add(
        "key", made.key.id, "usd", "day", limit_cny, currency="CNY"
    )
    return made.secret, budget


# qwen-plus in thinking mode (DASHSCOPE: "enable_thinking": true) bills every output token
# at the thinking price, 8 CNY per 1M (alibaba_cn.yaml output_thinking), reasoning or not.
# The same 250-token prompt and max_tokens 50; the answer 250 prompt + 50 completion
# tokens, 40 of them reasoning: 250 x 0.8 + 50 x 8 = 200 + 400 = 600 per 1M = 0.0006 CNY,
# the most such a call can cost (50 is its cap), and what budgets/worst_case.py reserves
# (the output at its dearest reading, thinking; no cache marker, so the prompt as plain
# input). 12 x 0.0006 = 0.0072 <= 0.0073 < 13 x 0.0006 = 0.0078: 12 fit. (Reserved at the
# non-thinking 0.0003, as before the dearest reading, 24 were let in and spent 0.0144 CNY.)
THINKING_CNY, THINKING_FITS = D("0.0006"), 12


def test_a_thinking_answer_cannot_overspend_a_cny_budget(home: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    body = counted_body(PROMPT_TOKENS, model=QWEN_PLUS, enable_thinking=True, max_tokens=MAX_TOKENS)
    with open_store(database) as store, ReplayUpstream(_qwen_transcripts(40)) as replay:
        secret, _ = _budgeted(store, LIMIT_CNY)
        catalog = Catalog.load()
        gate, budgets = KeyGate(KeyStore(store)).start(), BudgetGate(store, catalog).start()
        writer = LedgerWriter(store, tmp_path / "spool.jsonl", flush_interval=0.02)
        config = {"upstreams": {"dashscope": {**costs.DASHSCOPE,
                                              "base_url": replay.url + "/compatible-mode/v1"}},
                  "routes": [{"match": "qwen*", "upstream": "dashscope"}]}  # fmt: skip
        try:
            with live_gateway(config, catalog, writer, gate=gate, budgets=budgets) as (url, _):
                answers = asyncio.run(_same_body(url, secret, body, 60))
        finally:
            budgets.close()
            gate.close()
        assert writer.close(timeout=30)
    rows = ledger_rows(database)
    spent = sum((row["billed_total"] for row in rows), D(0))
    print(f"admitted {len(rows)}, spent {spent} CNY of {LIMIT_CNY}")
    assert [a.status_code for a in answers].count(200) == len(rows)
    assert spent <= LIMIT_CNY
    assert len(rows) == THINKING_FITS and spent == THINKING_FITS * THINKING_CNY


async def _same_body(url: str, secret: str, body: bytes, n: int) -> list[httpx.Response]:
    headers = {"authorization": f"Bearer {secret}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        sent = (http.post("/v1/chat/completions", content=body, headers=headers) for _ in range(n))
        return list(await asyncio.gather(*sent))
