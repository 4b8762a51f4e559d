"""End to end with the embedded local model: ``local/smollm2`` through ``llmtally serve``
(llama-cpp-python's server as its child), recorded with real tokens and a time cost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from gateway_support import LLMTALLY, free_port, serve_process, wait_up
from llmtally.gateway.local import (
    LocalModelError,
    LocalServer,
    default_usd_per_hour,
    smollm2_path,
)
from llmtally.gateway.serve import default_config
from llmtally.ledger import open_store
from llmtally.tokens.registry import default_registry


def test_the_default_config_routes_local_models_to_the_embedded_one() -> None:
    config = default_config()
    route, upstream = config.route("local/smollm2")
    assert route.upstream_model("local/smollm2") == "smollm2"
    assert upstream.spawn == "llama-cpp" and upstream.usd_per_hour == default_usd_per_hour()
    assert smollm2_path().stat().st_size > 50_000_000  # the shipped GGUF


def test_local_smollm2_end_to_end(tmp_path: Path) -> None:
    local_port = free_port()
    config = (
        "upstreams:\n"
        f"  local: {{kind: openai, base_url: 'http://127.0.0.1:{local_port}', provider: local,\n"
        "          usd_per_hour: '0.126', spawn: llama-cpp}\n"
        "routes:\n"
        "  - {match: 'local/*', upstream: local, strip_prefix: true}\n"
    )
    with serve_process(tmp_path, config) as run:
        client = openai.OpenAI(base_url=f"{run.url}/v1", api_key="none", max_retries=0, timeout=60)
        hello = [{"role": "user", "content": "Say hello."}]
        reply = client.chat.completions.create(model="local/smollm2", messages=hello, max_tokens=12)
        chunks = list(
            client.chat.completions.create(
                model="local/smollm2", messages=hello, max_tokens=12, stream=True
            )
        )
        client.close()
    assert run.process.returncode == 0, run.err
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert chunks and reply.choices[0].message.content
    with open_store(run.database) as store:
        calls = sorted(store.list(limit=10), key=lambda c: c.started_at)
    assert [c.status for c in calls] == [200, 200]
    first = calls[0]
    assert first.usage.input_tokens == reply.usage.prompt_tokens
    assert first.usage.output_tokens == reply.usage.completion_tokens
    assert first.cost is not None and first.cost.total > 0
    # $0.126 an hour over the call's time
    seconds = Decimal(str(first.latency_ms)) / 1000
    assert abs(first.cost.total - seconds * Decimal("0.126") / 3600) < Decimal("0.0000001")
    # a whole answer: its tokens over the whole call, not over the last byte's arrival
    assert first.output_tokens_per_s is not None
    whole_call = reply.usage.completion_tokens / (first.latency_ms / 1000)
    assert abs(first.output_tokens_per_s - whole_call) <= whole_call * 0.01
    # llama-cpp-python's server sends no usage in streams: the gateway counts the
    # streamed text with SmolLM2's own vocabulary (read from its GGUF), flagged
    # estimated since the prompt's chat template is not counted exactly.
    streamed = calls[1]
    assert streamed.ttft_ms is not None and streamed.usage.source == "estimated"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    smollm2 = default_registry().get("smollm2")
    assert streamed.usage.output_tokens == smollm2.count(text) > 0
    assert streamed.cost is not None and streamed.cost.total > 0
    # the model's own vocabulary agrees with what the server reported
    content = reply.choices[0].message.content or ""
    assert abs(smollm2.count(content) - reply.usage.completion_tokens) <= 1


def test_the_default_local_model_ignores_port_settings_meant_for_the_gateway(
    tmp_path: Path,
) -> None:
    """``make run PORT=4100`` exports PORT to every child; llama-cpp-python's
    server reads PORT and HOST from the environment."""
    port = free_port()
    env = {
        **os.environ,
        "LLMTALLY_HOME": str(tmp_path / "home"),
        "PORT": str(free_port()),
        "HOST": "0.0.0.0",
    }
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    process = subprocess.Popen(
        [LLMTALLY, "serve", "--port", str(port), "--database-url", database],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, process)
        with openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0) as client:
            hello = [{"role": "user", "content": "Hi"}]
            reply = client.chat.completions.create(
                model="local/smollm2", messages=hello, max_tokens=4
            )
        assert reply.usage is not None and reply.usage.completion_tokens > 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def test_a_taken_port_for_the_local_model_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalModelError, match=f"port {port} for the local model is already"):
            LocalServer(f"http://127.0.0.1:{port}").start(timeout=5)
