"""Token counting speed against tiktoken itself, and the cold start of ``llmtally count``.

Run in the project's own environment (tiktoken is a dependency of llmtally):

    .venv/bin/python benchmarks/tokens.py [--megabytes 10] [--rounds 5] [--starts 15]

1. Throughput: a ~10 MB mixed corpus (prose, code, CJK, emoji, whitespace runs,
   and the 17-language parallel corpus), counted whole by llmtally's
   ``o200k_base`` / ``cl100k_base`` tokenizers (``Tokenizer.count``) and by
   tiktoken itself (``len(Encoding.encode_ordinary(text))``) on the same text,
   rounds interleaved in a rotating order; the figure is tokens/s and the ratio
   llmtally / tiktoken (goal >= 1.0). Both must give the same count.
2. Cold start: ``llmtally count --model gpt-4o`` on a small file, as a new process
   each time, median of N runs (goal < 1.0 s), beside the bare interpreter start
   (``python -c pass``) measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmtally.tokens.languages import load_corpus
from llmtally.tokens.loaders.common import EncodingTokenizer
from llmtally.tokens.registry import TokenizerRegistry

ROOT = Path(__file__).resolve().parents[1]
MIXED = ROOT / "tests" / "fixtures" / "tokens" / "mixed.txt"
LLMTALLY = Path(sys.executable).parent / "llmtally"


def corpus(megabytes: float) -> str:
    """The mixed fixture and every language's passages, repeated to the size asked."""
    parts = [MIXED.read_text(encoding="utf-8")]
    parts += ["\n\n".join(p.passages) for p in load_corpus()]
    block = "\n\n".join(parts) + "\n"
    target = int(megabytes * 1_000_000)
    size = len(block.encode("utf-8"))
    return block * max(1, round(target / size))


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def throughput(text: str, rounds: int) -> None:
    registry = TokenizerRegistry()
    for name in ("o200k_base", "cl100k_base"):
        ours = registry.get(name)
        assert isinstance(ours, EncodingTokenizer)
        encoding = ours.encoding  # the same ranks, in tiktoken itself
        runners: dict[str, Callable[[], int]] = {
            "llmtally": functools.partial(ours.count, text),
            "tiktoken": lambda enc=encoding: len(enc.encode_ordinary(text)),
        }
        ours.count(text)  # build the fast counter outside the timed rounds
        rates: dict[str, list[float]] = {key: [] for key in runners}
        counts: dict[str, int] = {}
        ratios = []
        for r in range(rounds):
            order = list(runners) if r % 2 == 0 else list(reversed(runners))
            seconds = {}
            for key in order:
                seconds[key], counts[key] = timed(runners[key])
                rates[key].append(counts[key] / seconds[key])
            ratios.append(seconds["tiktoken"] / seconds["llmtally"])
        same = "same count" if counts["llmtally"] == counts["tiktoken"] else "COUNTS DIFFER"
        print(
            f"{name}: {counts['tiktoken']:,} tokens ({same}); "
            f"llmtally {statistics.median(rates['llmtally']):,.0f} tok/s, "
            f"tiktoken {statistics.median(rates['tiktoken']):,.0f} tok/s; "
            f"ratio llmtally/tiktoken {statistics.median(ratios):.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}; goal >= 1.0)"
        )


def start_times(command: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def cold_start(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder) / "small.txt"
        small.write_text("How many tokens does this short note take on GPT-4o?\n")
        bare = start_times([sys.executable, "-c", "pass"], runs)
        count = start_times([str(LLMTALLY), "count", str(small), "--model", "gpt-4o"], runs)
    median = statistics.median(count)
    print(
        f"cold start `llmtally count --model gpt-4o` (small file), {runs} runs: "
        f"median {median:.3f} s (min {min(count):.3f}, max {max(count):.3f}); "
        f"bare interpreter start {statistics.median(bare):.3f} s; "
        f"ratio {median / statistics.median(bare):.1f}x the bare start; "
        f"goal < 1.0 s: {'met' if median < 1.0 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=15)
    args = parser.parse_args()
    text = corpus(args.megabytes)
    size = len(text.encode("utf-8")) / 1e6
    print(f"corpus: {size:.1f} MB, {len(text):,} characters, {args.rounds} rounds")
    throughput(text, args.rounds)
    cold_start(args.starts)


if __name__ == "__main__":
    main()
