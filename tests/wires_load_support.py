"""What tests/test_wires_load.py needs besides the wire tests' own fixtures: the
issue-17 wires behind one gateway config, a request of each kind sent with
httpx, the client-side check of its answer, the ledger's rows, and
``llmtally serve`` run as several processes on one ledger.

The transcripts, replay servers and hand-worked costs are the wire tests' own
(tests/test_wires_costs.py's ``Priced`` cases, which cite each API reference
and pricing page; tests/test_wires_bedrock.py's ``BedrockReplay``); nothing here
computes an expected figure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

import test_wires_azure as azure_wire
import test_wires_bedrock as bedrock_wire
import test_wires_costs as costs
from gateway_support import LLMTALLY, ServeRun, free_port, wait_up
from llmtally.ledger import open_store
from llmtally.ledger.schema import calls
from replay_upstream import ReplayUpstream

__all__ = [
    "BACKLOG",
    "Answer",
    "check_answer",
    "deeper_backlog",
    "ledger_rows",
    "mixed_config",
    "priced",
    "send",
    "serve_processes",
]

BACKLOG = 1024  # a listening socket's queue: hundreds of connections arrive at once
AZURE_API_VERSION = azure_wire.API_VERSION
# the OpenAI-compatible China APIs: the model's name routes it (test_wires_costs' upstreams)
CHINA_ROUTES = {
    "qwen*": ("dashscope", costs.DASHSCOPE),
    "doubao-*": ("ark", costs.ARK),
    "glm-*": ("zhipu", costs.ZHIPU),
    "kimi-*": ("kimi", {"kind": "openai", "base_url": "/v1", "provider": "moonshot-cn"}),
}


def priced(name: str) -> costs.Priced:
    """test_wires_costs' hand-worked case ``name``."""
    return next(case for case in costs.CASES if case.name == name)


def deeper_backlog(server: Any) -> None:
    """Let a listening ``socketserver`` queue BACKLOG connections (the standard
    library's ThreadingHTTPServer listens with 5; Linux drops the SYNs past it,
    which costs a client a second or more before it tries again)."""
    server.socket.listen(BACKLOG)


def mixed_config(replay: str, bedrock: str) -> dict[str, Any]:
    """One gateway for every issue-17 wire: DashScope, Ark, Zhipu and Kimi on the
    replay at ``replay``, Azure deployments there too, Bedrock at ``bedrock``."""
    upstreams: dict[str, Any] = {
        name: {**upstream, "base_url": replay + upstream["base_url"]}
        for name, upstream in CHINA_ROUTES.values()
    }
    upstreams["azure"] = {
        "kind": "azure",
        "base_url": replay,
        "deployments": costs.AZURE_DEPLOYMENTS,
        "api_key_env": "LLMTALLY_TEST_AZURE_KEY",
    }
    upstreams["bedrock"] = bedrock_wire._config(bedrock)["upstreams"]["bedrock"]
    routes = [{"match": match, "upstream": name} for match, (name, _) in CHINA_ROUTES.items()]
    routes += [
        {"match": f"{prefix}anthropic.*", "upstream": "bedrock"} for prefix in ("", "global.")
    ]
    return {"upstreams": upstreams, "routes": routes}


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one client got back."""

    status: int
    headers: httpx.Headers
    body: bytes


async def send(
    http: httpx.AsyncClient, case: costs.Priced, feature: str, key: str | None = None
) -> Answer:
    """``case``'s request as its own SDK sends it, with plain httpx: the OpenAI
    chat path, an Azure deployment URL, or Bedrock's Converse / ConverseStream
    (unsigned: the gateway signs with its own keys); ``key``: a gateway key."""
    headers = {"x-llmtally-feature": feature}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    if case.wire == "bedrock":
        action = "converse-stream" if case.stream else "converse"
        path = f"/model/{quote(case.model, safe='')}/{action}"
        body: dict[str, Any] = {"messages": bedrock_wire.MESSAGES}
    elif case.wire == "azure":
        path = f"/openai/deployments/{case.model}/chat/completions"
        path += f"?api-version={AZURE_API_VERSION}"
        headers["api-key"] = "client-azure-key-0000"
        body = {"model": case.model, "messages": azure_wire.HELLO, "stream": case.stream}
    else:
        path = "/v1/chat/completions"
        body = {"model": case.model, "messages": [{"role": "user", "content": "你好"}]}
        body["stream"] = case.stream
    response = await http.post(path, json=body, headers=headers)
    return Answer(response.status_code, response.headers, response.content)


def _sse_payloads(body: bytes) -> list[str]:
    return [
        line[len("data: ") :] for line in body.decode().splitlines() if line.startswith("data: ")
    ]


def _stream_text(events: list[Any]) -> tuple[str, set[str]]:
    """The answer text and the model names of an OpenAI-style stream's chunks."""
    text, models = "", set()
    for event in events:
        if not isinstance(event, dict) or event["data"] == "[DONE]":
            continue
        chunk = event["data"]
        models.add(chunk.get("model"))
        for choice in chunk.get("choices", []):
            text += choice.get("delta", {}).get("content") or ""
    return text, models


def check_answer(case: costs.Priced, answer: Answer) -> None:
    """The client got ``case``'s own answer whole: the transcript's body, its
    stream's text ending in [DONE], or Bedrock's reply / event-stream bytes."""
    assert answer.status == 200, (case.name, answer.status, answer.body[:300])
    if case.wire == "bedrock" and case.stream:
        stream = b"".join(bedrock_wire.event_message(n, p) for n, p in bedrock_wire.STREAM)
        assert answer.body == stream, case.name  # relayed byte for byte
    elif case.wire == "bedrock":
        assert json.loads(answer.body) == (case.reply or costs.CONVERSE), case.name
    elif case.stream:
        payloads = _sse_payloads(answer.body)
        assert payloads[-1] == "[DONE]", (case.name, payloads)
        got = [{"data": json.loads(p)} for p in payloads[:-1]]
        assert _stream_text(got) == _stream_text(case.transcript["events"]), case.name
    else:
        assert json.loads(answer.body) == case.transcript["response"]["body"], case.name


def ledger_rows(database: str) -> list[dict[str, Any]]:
    """Every row of the ``calls`` table."""
    with open_store(database) as store, store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(calls)).mappings().all()]


def transcripts(cases: list[costs.Priced]) -> ReplayUpstream:
    """A replay upstream (not started) of the China and Azure cases' transcripts."""
    return ReplayUpstream({c.name: c.transcript for c in cases if c.wire != "bedrock"})


@contextlib.contextmanager
def serve_processes(
    tmp_path: Path, config_yaml: str, database: str, count: int, home: Path
) -> Iterator[list[ServeRun]]:
    """``count`` separate ``llmtally serve`` processes, each on its own port and
    spool, all on ``database`` and reading ``home`` (the rates); on exit each
    gets SIGTERM and is waited for (``out``/``err`` filled)."""
    config = tmp_path / "llmtally.yaml"
    config.write_text(config_yaml)
    runs: list[ServeRun] = []
    try:
        for i in range(count):
            port = free_port()
            env = {"LLMTALLY_HOME": str(home), "LLMTALLY_SPOOL": str(tmp_path / f"spool{i}.jsonl")}
            logs = [tmp_path / f"serve{i}.{name}" for name in ("out", "err")]
            with logs[0].open("wb") as out, logs[1].open("wb") as err:  # never a full pipe
                process = subprocess.Popen(
                    [LLMTALLY, "serve", "--port", str(port), "--config", str(config)]
                    + ["--database-url", database],
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=err,
                )
            runs.append(ServeRun(f"http://127.0.0.1:{port}", database, process))
        for run in runs:
            wait_up(run.url, run.process)
        yield runs
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGTERM)
        for i, run in enumerate(runs):
            run.process.wait(timeout=60)
            run.out = (tmp_path / f"serve{i}.out").read_text()
            run.err = (tmp_path / f"serve{i}.err").read_text()
