"""Cost of N usage records (default 1M): llmtally against genai-prices and litellm.

Run (the peers live only in the benchmark's own environment):

    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install -e . -r benchmarks/requirements.txt
    benchmarks/.venv/bin/python benchmarks/meter.py [--records N] [--rounds R]

Each library does the same job per record, from the raw record to a cost:
llmtally ``catalog.price_at`` + ``Usage`` + ``cost(...).total``; genai-prices
``calc_price(Usage(...), model_ref=..., provider_id=...)``; litellm
``cost_per_token(...)``. Records are seeded-random over ~12 models that all three
know (checked at run time; a model one of them cannot price is dropped and said
so). Counts are totals with subsets: input includes cache reads, output includes
reasoning. Rounds are interleaved in a rotating order; figures are medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported

NET_ATTEMPTS: list[str] = []


def _no_network(*args: object, **kwargs: object) -> object:
    NET_ATTEMPTS.append(repr(args[:2])[:80])
    raise OSError("benchmarks/meter.py: network access is blocked")


socket.getaddrinfo = _no_network  # type: ignore[assignment]
socket.create_connection = _no_network  # type: ignore[assignment]
socket.socket.connect = _no_network  # type: ignore[assignment,method-assign]

import genai_prices  # noqa: E402
import litellm  # noqa: E402

from llmtally.catalog.catalog import Catalog  # noqa: E402
from llmtally.meter import cost  # noqa: E402
from llmtally.usage import Usage  # noqa: E402

# (weight, provider, model, makes reasoning tokens). Older names first tried too:
# they are used when all three libraries still price them.
CANDIDATES = [
    (16, "openai", "gpt-4o-mini", False),
    (10, "openai", "gpt-4o", False),
    (10, "openai", "gpt-4.1", False),
    (8, "openai", "gpt-4.1-mini", False),
    (5, "openai", "o3-mini", True),
    (6, "openai", "o4-mini", True),
    (8, "anthropic", "claude-3-5-sonnet-20241022", False),
    (4, "anthropic", "claude-3-5-haiku-20241022", False),
    (10, "anthropic", "claude-sonnet-4-5", False),
    (6, "anthropic", "claude-haiku-4-5", False),
    (6, "google", "gemini-2.0-flash", False),
    (3, "google", "gemini-1.5-pro", False),
    (8, "google", "gemini-2.5-flash", True),
    (4, "google", "gemini-2.5-pro", True),
    (5, "deepseek", "deepseek-chat", False),
    (5, "mistral", "mistral-large-latest", False),
]
# How each library spells a provider, where it differs.
PROVIDER = {"llmtally": {}, "genai-prices": {}, "litellm": {"google": "gemini"}}
LIBS = ("llmtally", "genai-prices", "litellm")
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
MOMENTS = [START + dt.timedelta(hours=h) for h in range(31 * 24)]
Record = tuple[int, int, int, int, int, dt.datetime]  # model, in, cached, out, reasoning, at
Model = tuple[str, str]


def make_coster(
    lib: str, names: Sequence[Model], catalog: Catalog
) -> Callable[[Sequence[Record]], list[object]]:
    """A function: records -> one cost per record, by ``lib``; ``names[i]`` = (provider, model)."""
    if lib == "llmtally":
        price_at = catalog.price_at

        def run_llmtally(recs: Sequence[Record]) -> list[object]:
            out: list[object] = []
            for m, inp, cached, outp, reasoning, at in recs:
                provider, model = names[m]
                usage = Usage(
                    input_tokens=inp,
                    cache_read_tokens=cached,
                    output_tokens=outp,
                    reasoning_tokens=reasoning,
                )
                out.append(cost(usage, price_at(provider, model, at)).total)
            return out

        return run_llmtally
    if lib == "genai-prices":
        calc, gusage = genai_prices.calc_price, genai_prices.Usage

        def run_genai(recs: Sequence[Record]) -> list[object]:
            out: list[object] = []
            for m, inp, cached, outp, reasoning, at in recs:
                provider, model = names[m]
                usage = gusage(
                    input_tokens=inp,
                    cache_read_tokens=cached,
                    output_tokens=outp,
                    output_reasoning_tokens=reasoning,
                )
                res = calc(usage, model_ref=model, provider_id=provider, genai_request_timestamp=at)
                out.append(res.total_price)
            return out

        return run_genai
    per_token = litellm.cost_per_token

    def run_litellm(recs: Sequence[Record]) -> list[object]:
        # cost_per_token has no reasoning argument; these models price reasoning as output.
        out: list[object] = []
        for m, inp, cached, outp, _reasoning, _at in recs:
            provider, model = names[m]
            prompt, completion = per_token(
                model=model,
                prompt_tokens=inp,
                completion_tokens=outp,
                cache_read_input_tokens=cached,
                custom_llm_provider=provider,
            )
            out.append(prompt + completion)
        return out

    return run_litellm


def pick_models(catalog: Catalog) -> list[tuple[int, str, str, bool]]:
    """The candidates every library prices (> $0) at the first and last moment."""
    kept = []
    for weight, provider, model, reasons in CANDIDATES:
        probes: list[Record] = [
            (0, 10_000, 2_000, 1_000, 0, MOMENTS[0]),
            (0, 10, 0, 5, 0, MOMENTS[-1]),
        ]
        missing = []
        for lib in LIBS:
            name = (PROVIDER[lib].get(provider, provider), model)
            try:
                costs = make_coster(lib, [name], catalog)(probes)
                if not all(float(c) > 0 for c in costs):  # type: ignore[arg-type]
                    missing.append(f"{lib} ($0)")
            except Exception as exc:  # any failure means "cannot price it"; said below
                missing.append(f"{lib} ({type(exc).__name__})")
        if missing:
            print(f"  skip {provider}/{model}: not priced by {', '.join(missing)}")
        else:
            kept.append((weight, provider, model, reasons))
    return kept


def make_records(n: int, models: Sequence[tuple[int, str, str, bool]], seed: int) -> list[Record]:
    rng = random.Random(seed)
    picks = rng.choices(range(len(models)), weights=[m[0] for m in models], k=n)
    recs: list[Record] = []
    for m in picks:
        inp = int(rng.lognormvariate(7.5, 1.2)) + 1  # median ~1.8k, long tail
        inp = min(inp, 120_000)
        cached = rng.randrange(inp // 2, inp + 1) if rng.random() < 0.35 and inp > 1024 else 0
        outp = min(int(rng.lognormvariate(5.5, 1.0)) + 1, 16_000)
        reasoning = 0
        if models[m][3] and rng.random() < 0.8:
            reasoning = int(outp * rng.uniform(0.3, 0.9))
        recs.append((m, inp, cached, outp, reasoning, rng.choice(MOMENTS)))
    return recs


def spread(figures: list[float]) -> float:
    return max(figures) - min(figures)


def agreement(
    costers: dict[str, Callable[..., list[object]]],
    recs: Sequence[Record],
    models: Sequence[tuple[int, str, str, bool]],
) -> dict[str, float]:
    """Per-model totals of each library on ``recs``; returns each library's rate there."""
    results, rates = {}, {}
    for lib, fn in costers.items():
        t0 = time.perf_counter()
        results[lib] = fn(recs)
        rates[lib] = len(recs) / (time.perf_counter() - t0)
    print(f"\nagreement on {len(recs):,} records (sum per model, USD; tolerance 1e-6 relative):")
    print(f"  {'model':<28}{'records':>8}" + "".join(f"{lib:>16}" for lib in LIBS) + "  verdict")
    disagreements = 0
    for i, (_, provider, model, _) in enumerate(models):
        idx = [k for k, r in enumerate(recs) if r[0] == i]
        sums = {lib: sum(float(results[lib][k]) for k in idx) for lib in LIBS}  # type: ignore[arg-type]
        top = max(sums.values())
        ok = top == 0 or (top - min(sums.values())) / top <= 1e-6
        disagreements += not ok
        cells = "".join(f"{sums[lib]:>16.6f}" for lib in LIBS)
        print(f"  {provider + '/' + model:<28}{len(idx):>8}{cells}  {'ok' if ok else 'DIFFERS'}")
        if not ok:
            k = max(idx, key=lambda k: spread([float(results[lib][k]) for lib in LIBS]))  # type: ignore[arg-type]
            _, inp, cached, outp, reasoning, at = recs[k]
            figures = ", ".join(f"{lib} {float(results[lib][k]):.8f}" for lib in LIBS)  # type: ignore[arg-type]
            print(
                f"      e.g. in={inp} cached={cached} out={outp} reasoning={reasoning} "
                f"at={at:%Y-%m-%d}: {figures}"
            )
    print(f"  {disagreements} of {len(models)} models disagree")
    return rates


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--peer-records",
        type=int,
        default=100_000,
        help="subset a slow peer is timed on (scaled to records/s)",
    )
    ap.add_argument("--sample", type=int, default=20_000, help="records in the agreement check")
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # genai-prices / litellm deprecation chatter
    peers = ", ".join(f"{lib} {version(lib)}" for lib in LIBS[1:])
    print(f"meter benchmark: {args.records:,} records, {args.rounds} rounds, ", end="")
    print(f"{os.cpu_count()} CPUs, {peers}")
    catalog = Catalog.load()
    models = pick_models(catalog)
    print(f"models ({len(models)}): " + ", ".join(f"{p}/{m}" for _, p, m, _ in models))
    recs = make_records(args.records, models, args.seed)
    costers = {
        lib: make_coster(lib, [(PROVIDER[lib].get(p, p), m) for _, p, m, _ in models], catalog)
        for lib in LIBS
    }
    sample_rates = agreement(costers, recs[: args.sample], models)
    sizes = {}
    for lib in LIBS:  # a peer that would need > 20 s a round runs the subset
        whole = lib == "llmtally" or args.records / sample_rates[lib] <= 20
        sizes[lib] = args.records if whole else min(args.peer_records, args.records)
    rates: dict[str, list[float]] = {lib: [] for lib in LIBS}
    ratios: list[float] = []
    for r in range(args.rounds):
        order = LIBS[r % 3 :] + LIBS[: r % 3]
        for lib in order:
            chunk = recs[: sizes[lib]]
            t0 = time.perf_counter()
            costers[lib](chunk)
            rates[lib].append(len(chunk) / (time.perf_counter() - t0))
        best_peer = max(rates["genai-prices"][-1], rates["litellm"][-1])
        ratios.append(rates["llmtally"][-1] / best_peer)
        print(f"  round {r + 1}: " + ", ".join(f"{lib} {rates[lib][-1]:,.0f}/s" for lib in order))
    report(rates, ratios, sizes, args.records)


def report(
    rates: dict[str, list[float]], ratios: list[float], sizes: dict[str, int], total: int
) -> None:
    print("\n| library | records timed | median records/s | min | max |\n|---|---:|---:|---:|---:|")
    for lib in LIBS:
        timed = f"{sizes[lib]:,}" + ("" if sizes[lib] == total else " (subset, scaled)")
        med, lo, hi = statistics.median(rates[lib]), min(rates[lib]), max(rates[lib])
        print(f"| {lib} | {timed} | {med:,.0f} | {lo:,.0f} | {hi:,.0f} |")
    peer = max(("genai-prices", "litellm"), key=lambda lib: statistics.median(rates[lib]))
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio >= 3 else "BELOW"
    print(
        f"\nratio llmtally / faster peer ({peer}): {ratio:.1f}x (median of per-round ratios, "
        f"range {min(ratios):.1f}x-{max(ratios):.1f}x); goal >= 3x: {verdict}"
    )
    print(
        f"network attempts blocked: {len(NET_ATTEMPTS)}"
        + (f" {NET_ATTEMPTS[:3]}" if NET_ATTEMPTS else "")
    )


if __name__ == "__main__":
    main()
