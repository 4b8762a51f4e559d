"""Changes that send fewer tokens: a trimmed prompt (``trim``), a capped output
(``cap_output``). Each takes the tokens a cell's calls would no longer send, as
the advisor's rollups sum them (``cells.Facts``, ``token_hist``), scaled to the
calls still sent (``still_sent``), and keeps every subset of the usage valid
(``llmtally.usage``: cache tokens within the input, reasoning within the
output); it never takes more than the cell's state still holds.

Input tokens removed come from the cheapest kind first: cache reads, then plain
input, then cache writes (5 min, then 1 h). Where a prompt cache holds the
trimmed part (tool schemas sit at the front of the prompt, in the cached
prefix), that is where they were billed; elsewhere it can only understate the
saving, never overstate it. Audio and image input are never removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from llmtally.advisor.working import CellState, Change, Working

__all__ = ["fewer_input", "fewer_output", "sent_part", "still_sent", "thinned"]


def still_sent(tokens: int, cell: int, working: Working) -> int:
    """``tokens`` of a cell's calls scaled to the share still sent (a response cache
    kept earlier answers the others; whole tokens, rounded down), as
    ``prompt_cache`` scales its reads and writes."""
    sent, total = working.state(cell).calls, working.cell(cell).calls
    return tokens if sent == total else tokens * sent // total


def sent_part(calls: int, tokens: int, cell: int, working: Working) -> tuple[int, int]:
    """Some calls of a cell and their tokens, both scaled by ``still_sent``; at least
    one call where tokens are left (rounding down the calls alone would lose them)."""
    left = still_sent(tokens, cell, working)
    return (still_sent(calls, cell, working) or int(left > 0)), left


def thinned(cells: Iterable[int], working: Working) -> str | None:
    """The assumption to state when a response cache answers some calls of
    ``cells``; None when every call is still sent."""
    ids = set(cells)
    sent = sum(working.state(cell).calls for cell in ids)
    total = sum(working.cell(cell).calls for cell in ids)
    if sent == total:
        return None
    return (
        f"a response cache kept above answers {total - sent:,} of the {total:,} calls "
        "billed alike with these (same day, model, tier): the tokens are scaled to the "
        "share still sent, rounded down, as if the calls it answers were average ones"
    )


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
    model had not finished too). At most the cell's text output is taken, and
    the reasoning left stays within the output left."""

    def change(state: CellState) -> CellState:
        usage = state.usage
        text = usage.output_tokens - usage.output_audio_tokens - usage.output_image_tokens
        cut = min(tokens, max(text, 0))
        answer = text - usage.reasoning_tokens  # the text output that is not reasoning
        cut_reasoning = max(min(reasoning, usage.reasoning_tokens, cut), cut - answer)
        return replace(
            state,
            usage=replace(
                usage,
                output_tokens=usage.output_tokens - cut,
                reasoning_tokens=usage.reasoning_tokens - cut_reasoning,
            ),
        )

    return change
