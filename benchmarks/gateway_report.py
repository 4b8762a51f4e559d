"""benchmarks/gateway.py's report: latency, rates and memory against issue 16's goals.

The goals are issue 16's "Must show", measured in the same run: added latency at
concurrency 1 (p50 <= 0.3 ms, p99 <= 1.0 ms over the direct upstream), throughput at
concurrency N with one worker >= 30% of direct, and >= 40x the LiteLLM proxy.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

import procmem

ADDED_P50_MS = 0.3
ADDED_P99_MS = 1.0
SHARE_OF_DIRECT = 0.30
TIMES_LITELLM = 40.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of latencies in seconds, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a (llmtally adds nothing measurable)"


def report_latency(by: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Each target's p50 / p99 at concurrency 1, and what it adds to the direct one."""
    base = by["direct"]
    b50, b99 = percentile(base.latencies, 0.5), percentile(base.latencies, 0.99)
    lines = [
        f"concurrency 1, non-streaming, {len(base.latencies):,} timed requests per target:",
        f"  direct    p50 {b50:.3f} ms  p99 {b99:.3f} ms",
    ]
    for name in (*names, "litellm"):
        if name not in by:
            continue
        t = by[name]
        p50, p99 = percentile(t.latencies, 0.5), percentile(t.latencies, 0.99)
        line = (
            f"  {name:24} p50 {p50:.3f} ms (+{p50 - b50:.3f})  p99 {p99:.3f} ms (+{p99 - b99:.3f})"
        )
        if name.startswith("llmtally"):
            line += (
                f"; added p50 <= {ADDED_P50_MS} ms: {verdict(p50 - b50 <= ADDED_P50_MS)}, "
                f"added p99 <= {ADDED_P99_MS} ms: {verdict(p99 - b99 <= ADDED_P99_MS)}"
            )
        lines.append(line)
    if "litellm" in by and "llmtally" in by:
        lt, ll = by["llmtally"].latencies, by["litellm"].latencies
        p50 = _ratio(percentile(ll, 0.5) - b50, percentile(lt, 0.5) - b50)
        p99 = _ratio(percentile(ll, 0.99) - b99, percentile(lt, 0.99) - b99)
        lines.append(f"  added latency litellm / llmtally: p50 {p50}, p99 {p99}")
    return lines


def report_rates(by: dict[str, Any], names: Iterable[str], concurrency: int) -> list[str]:
    """Medians of the rounds' rates, as shares of direct and as multiples of LiteLLM."""
    names = [n for n in names if n in by]
    lines = [f"concurrency {concurrency}, one worker (median of rounds):"]
    for mode, unit in (("plain", "req/s"), ("stream", "streams/s")):
        label = "non-streaming" if mode == "plain" else "streaming"
        direct = statistics.median(by["direct"].rates[mode])
        lines.append(f"  {label} {unit}: direct {direct:,.0f}")
        for name in (*names, "litellm"):
            if name not in by:
                continue
            got = statistics.median(by[name].rates[mode])
            share = got / direct
            goal = (
                f"; >= {SHARE_OF_DIRECT:.0%} of direct: {verdict(share >= SHARE_OF_DIRECT)}"
                if name in names
                else ""
            )
            lines.append(f"    {name:24} {got:9,.0f} ({share:.0%} of direct){goal}")
        if "litellm" in by:
            lines += [_versus_litellm(by, name, mode, label) for name in names]
    return lines


def _versus_litellm(by: dict[str, Any], name: str, mode: str, label: str) -> str:
    per_round = [
        a / b for a, b in zip(by[name].rates[mode], by["litellm"].rates[mode], strict=True)
    ]
    ratio = statistics.median(per_round)
    return (
        f"    {name} / litellm ({label}): {ratio:.1f}x (median of per-round ratios, "
        f"{min(per_round):.1f}x-{max(per_round):.1f}x); >= {TIMES_LITELLM:.0f}x: "
        f"{verdict(ratio >= TIMES_LITELLM)}"
    )


def report_memory(targets: list[Any], concurrency: int) -> list[str]:
    """Each target's processes (serving processes, a writer process): at rest is after
    the port answered, before any traffic; under load right after its last c=N window."""
    head = f"memory (RSS, USS = private; at rest, and after the last c={concurrency} window):"
    return [head, *procmem.report([(t.name, t.memory) for t in targets])]
