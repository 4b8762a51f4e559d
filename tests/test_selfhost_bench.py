"""``selfhost bench``: the embedded SmolLM2 really runs here, and its price follows
from the measured decode rate and the given $/hour."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtally.catalog import Catalog
from llmtally.cli import app
from llmtally.selfhost.bench import BenchResult, BenchRun, price_bench, run_bench
from llmtally.selfhost.tables import SelfHostError, UnknownNameError

AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # gpt-4o: $2.50 in / $10 out per 1M


@pytest.fixture(scope="module")
def measured() -> BenchResult:
    return run_bench("local/smollm2", tokens=8, runs=2)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_smollm2_runs_here_with_positive_throughput(measured: BenchResult) -> None:
    assert measured.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert measured.load_seconds > 0
    assert len(measured.runs) == 2
    for run in measured.runs:
        assert run.generated_tokens == 8  # end-of-text ignored: always the tokens asked for
        assert run.prompt_tokens > 10 and run.prompt_seconds > 0 and run.decode_seconds > 0
        assert run.decode_tokens_per_second > 0
    assert measured.decode_tokens_per_second > 0
    assert measured.prompt_tokens_per_second > 0


def test_the_price_follows_from_the_measured_rate(measured: BenchResult, catalog) -> None:
    rate = measured.decode_tokens_per_second
    price = price_bench(measured, Decimal("0.126"), catalog, ["gpt-4o"], at=AT)
    assert price.tokens_per_second == rate
    # $0.126 an hour spread over rate x 3,600 tokens an hour
    assert price.usd_per_1m_output == Decimal("0.126") / (rate * 3600) * 1_000_000
    # $0.126 x 720 h = $90.72 a month; / $4.375 per 1M blended = 20.736M tokens
    assert price.monthly_cost == Decimal("90.72")
    (api,) = price.comparisons
    assert api.break_even_tokens == Decimal("20736000")
    assert price.output_tokens_per_month == rate * 3600 * 720
    half = price_bench(measured, Decimal("0.252"), catalog, [], Decimal("0.5"))
    # twice the price, half the tokens: four times the cost per token
    assert abs(half.usd_per_1m_output - 4 * price.usd_per_1m_output) < Decimal("1e-20")


def test_the_median_run_is_priced() -> None:
    runs = tuple(BenchRun(20, 0.1, 11, seconds) for seconds in (0.1, 0.2, 0.4))
    result = BenchResult("local/smollm2", Path("m.gguf"), 2, 0.5, runs)
    # decode rates 100, 50, 25 tokens/s (10 tokens after the first): the median is 50
    assert result.decode_tokens_per_second == Decimal("50.00")
    assert result.prompt_tokens_per_second == Decimal("200.00")


def test_cli_bench_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLMTALLY_PRICES", raising=False)
    args = ["selfhost", "bench", "--tokens", "4", "--runs", "1", "--usd-per-hour", "0.5"]
    args += ["--compare", "gpt-4o", "--at", "2025-01-01", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rate = Decimal(out["decode_tokens_per_second"])
    assert rate > 0 and out["usd_per_hour"] == "0.5"
    expected = Decimal("0.5") / (rate * 3600) * 1_000_000
    assert Decimal(out["usd_per_1m_output"]) == expected.quantize(Decimal("0.0001"))
    assert out["monthly_cost"] == "360.00"
    assert out["break_even"][0]["model"] == "gpt-4o"


def test_bad_bench_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match="nearest known: local/smollm2"):
        run_bench("local/smolm2")
    with pytest.raises(SelfHostError, match="tokens must be between 2"):
        run_bench(tokens=1)
    with pytest.raises(SelfHostError, match="runs and threads must be at least 1"):
        run_bench(runs=0)
    monkeypatch.setenv("LLMTALLY_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    for args, message in (
        (["--usd-per-hour", "-1"], "the price per hour must be positive, got -1"),
        (["--utilization", "2"], "got 2"),
        (["--model", "gpt-4o"], "unknown local model 'gpt-4o'"),
    ):
        result = runner.invoke(app, ["selfhost", "bench", *args])
        assert result.exit_code in (1, 2) and message in result.stderr, (args, result.output)
