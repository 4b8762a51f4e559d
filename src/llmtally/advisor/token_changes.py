"""Changes that send fewer tokens: a trimmed prompt (``trim``), a capped output
(``cap_output``). Each takes the tokens a cell's calls would no longer send, as
summed by one SQL query over the cell's calls still sent, and keeps every subset
of the usage valid (``llmtally.usage``: cache tokens within the input, reasoning
within the output).

Input tokens removed come from the cheapest kind first: cache reads, then plain
input, then cache writes (5 min, then 1 h). Where a prompt cache holds the
trimmed part (tool schemas sit at the front of the prompt, in the cached
prefix), that is where they were billed; elsewhere it can only understate the
saving, never overstate it. Audio and image input are never removed.
"""

from __future__ import annotations

from dataclasses import replace

from llmtally.advisor.working import CellState, Change

__all__ = ["fewer_input", "fewer_output"]


def fewer_input(tokens: int) -> Change:
    """The change that sends ``tokens`` fewer input tokens in a cell, the cheapest first."""

    def change(state: CellState) -> CellState:
        usage = state.usage
        plain = (
            usage.input_tokens
            - usage.cache_read_tokens
            - usage.cache_write_tokens
            - usage.input_audio_tokens
            - usage.input_image_tokens
        )
        short_writes = usage.cache_write_tokens - usage.cache_write_1h_tokens
        left = tokens
        taken: list[int] = []
        for available in (usage.cache_read_tokens, max(plain, 0), short_writes):
            take = min(left, available)
            taken.append(take)
            left -= take
        hour = min(left, usage.cache_write_1h_tokens)
        read, text, short = taken
        removed = read + text + short + hour
        return replace(
            state,
            usage=replace(
                usage,
                input_tokens=usage.input_tokens - removed,
                cache_read_tokens=usage.cache_read_tokens - read,
                cache_write_tokens=usage.cache_write_tokens - short - hour,
                cache_write_1h_tokens=usage.cache_write_1h_tokens - hour,
            ),
        )

    return change


def fewer_output(tokens: int, reasoning: int) -> Change:
    """The change that bills ``tokens`` fewer output tokens in a cell, ``reasoning``
    of them reasoning (a subset of the output: a cap cuts the reasoning the
    model had not finished too)."""

    def change(state: CellState) -> CellState:
        usage = state.usage
        return replace(
            state,
            usage=replace(
                usage,
                output_tokens=usage.output_tokens - tokens,
                reasoning_tokens=usage.reasoning_tokens - reasoning,
            ),
        )

    return change
