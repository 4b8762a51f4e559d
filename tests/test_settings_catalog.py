"""The catalog is opened one way everywhere: ``llmtally serve`` and the lab price
with the user's override file like the CLI does; the embedded model has one
machine price; serve warns about upstream keys that are not set."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from gateway_support import LLMTALLY, free_port, serve_process
from lab_support import OPENAI_MODEL, Quiet, gateway_config, money, run_rows, write
from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.config import open_catalog
from llmtally.gateway.config import Upstream
from llmtally.gateway.local import local_upstream
from llmtally.lab.session import LabOptions, run_experiment
from llmtally.ledger import open_store
from replay_upstream import ReplayUpstream

# A negotiated 40% off every gpt-4o* model (factor 0.6).
OVERRIDE = """\
discounts:
  - {provider: openai, models: ["gpt-4o*"], factor: "0.6", note: "2026 agreement"}
"""


def _home_with_override(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "prices.yaml").write_text(OVERRIDE)
    return home


def _config(upstream: ReplayUpstream, **keys: str) -> str:
    """Upstreams ``openai`` (no key variable) and one more per ``name=VARIABLE``."""
    lines = ["upstreams:", f"  openai: {{kind: openai, base_url: '{upstream.url}'}}"]
    for name, variable in keys.items():
        lines.append(
            f"  {name}: {{kind: openai, base_url: '{upstream.url}', api_key_env: {variable}}}"
        )
    return "\n".join([*lines, "routes:", "  - {match: '*', upstream: openai}", ""])


def test_serve_prices_gateway_calls_with_the_override_discount(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    _home_with_override(tmp_path)  # serve_process sets LLMTALLY_HOME to tmp_path/home
    with serve_process(tmp_path, _config(replay_upstream)) as run:
        client = openai.OpenAI(base_url=f"{run.url}/v1", api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        client.close()
    assert run.process.returncode == 0, run.err
    with open_store(run.database) as store:
        (call,) = store.list(limit=10)
    # openai_chat.json: gpt-4o-2024-08-06, 19 prompt and 10 completion tokens at
    # $2.50 / $10 per 1M = 0.0000475 + 0.0001 = 0.0001475; x 0.6 = 0.0000885
    assert call.cost is not None
    assert call.cost.total == Decimal("0.0000885")


def test_the_lab_prices_with_the_override_discount(
    replay_upstream: ReplayUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(_home_with_override(tmp_path)))
    config = gateway_config(tmp_path, replay_upstream.url)
    experiment = write(
        tmp_path,
        "exp.yaml",
        f"name: one\nprompts:\n  - {{id: hi, user: Say hello.}}\n"
        f"models:\n  - {{model: {OPENAI_MODEL}, max_tokens: 32}}\n",
    )
    database = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    outcome = run_experiment(experiment, LabOptions(config=config, database_url=database), Quiet())
    with open_store(database) as store:
        rows = run_rows(store, outcome.run.id)
    # openai_chat_stream_usage.json: gpt-4o-mini, 10 prompt and 6 completion tokens
    # at $0.15 / $0.60 per 1M = 0.0000015 + 0.0000036 = 0.0000051; x 0.6 = 0.00000306
    assert [money(row["cost_total"]) for row in rows] == [Decimal("0.00000306")]


def test_the_settings_open_the_catalog_with_imports_and_the_override(tmp_path: Path) -> None:
    home = _home_with_override(tmp_path)
    catalog = open_catalog(env={"LLMTALLY_HOME": str(home)})
    # gpt-4o-mini today: $0.15 / $0.60 per 1M, x 0.6
    rates = catalog.price_at("openai", "gpt-4o-mini").rates
    assert (rates.input, rates.output) == (Decimal("0.090"), Decimal("0.360"))
    plain = open_catalog(env={"LLMTALLY_HOME": str(tmp_path / "empty")})
    assert plain.price_at("openai", "gpt-4o-mini").rates.input == Decimal("0.15")


def test_the_catalog_and_the_gateway_price_the_embedded_model_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLMTALLY_LOCAL_USD_PER_HOUR", raising=False)
    hosted = Catalog.load().price_at("local", "local/smollm2").self_hosted
    gateway = Upstream.model_validate(local_upstream())
    assert hosted is not None
    assert gateway.usd_per_hour == hosted.usd_per_hour == Decimal("0.126")
    monkeypatch.setenv("LLMTALLY_LOCAL_USD_PER_HOUR", "0.5")
    assert Upstream.model_validate(local_upstream()).usd_per_hour == Decimal("0.5")


def test_serve_warns_about_an_unset_api_key_variable(
    replay_upstream: ReplayUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMTALLY_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("LLMTALLY_TEST_SET_KEY", "sk-test")
    config = _config(replay_upstream, lost="LLMTALLY_TEST_UNSET_KEY", kept="LLMTALLY_TEST_SET_KEY")
    with serve_process(tmp_path, config) as run:
        pass
    assert run.process.returncode == 0, run.err
    warnings = [line for line in run.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, run.err
    assert "'lost'" in warnings[0] and "LLMTALLY_TEST_UNSET_KEY is not set" in warnings[0]


def test_serve_stops_with_a_message_on_a_broken_override_file(
    replay_upstream: ReplayUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "prices.yaml").write_text("discounts:\n  - {provider: openai, factr: '0.8'}\n")
    config = tmp_path / "llmtally.yaml"
    config.write_text(_config(replay_upstream))
    done = subprocess.run(
        [LLMTALLY, "serve", "--port", str(free_port()), "--config", str(config)]
        + ["--database-url", f"sqlite:///{tmp_path / 'ledger.sqlite3'}"],
        env={**os.environ, "LLMTALLY_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "prices.yaml:2: discounts.0.factr" in done.stderr
    assert "Traceback" not in done.stderr


def test_count_prices_with_the_override_and_reports_a_broken_one(tmp_path: Path) -> None:
    home = _home_with_override(tmp_path)
    counted = CliRunner().invoke(
        app,
        ["count", "--compare", "gpt-4o,claude-3-5-haiku", "--json"],
        input="hello world\n",
        env={"LLMTALLY_HOME": str(home), "LLMTALLY_PRICES": ""},
    )
    assert counted.exit_code == 0, counted.output
    rows = {row["model"]: row for row in json.loads(counted.stdout)}
    # "hello", " world", "\n": 3 o200k tokens at $2.50 x 0.6 = $1.50 per 1M
    assert rows["openai/gpt-4o"]["tokens"] == 3
    assert Decimal(rows["openai/gpt-4o"]["input_cost_usd"]) == Decimal("0.0000045")
    (home / "prices.yaml").write_text("discounts:\n  - {provider: openai, factr: '0.8'}\n")
    broken = CliRunner().invoke(
        app, ["count", "--model", "gpt-4o"], input="hi", env={"LLMTALLY_HOME": str(home)}
    )
    assert broken.exit_code == 2
    assert "prices.yaml:2: discounts.0.factr" in broken.stderr
