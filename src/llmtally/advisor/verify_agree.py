"""Agreement of a replayed answer with the recorded one: the token-set F1 of
their normalised words, at least a threshold (``llmtally advise verify``).

Normalised words: the text in Unicode NFKC, case-folded, split into runs of
letters and digits (``\\w+``). With A and B the two sets of words, the F1 is
``2 |A ∩ B| / (|A| + |B|)``: 1 when both use the same words, 0 when they share
none; two empty answers agree (1), an empty and a non-empty one do not (0).
It is computed as an exact fraction, so a threshold of 0.6 is met by exactly
3 of 5 (no float rounding), and the same pair always gives the same verdict.

:func:`agreement` is also a lab check (``python: llmtally.advisor.verify_agree:agreement``):
it reads the recorded answer and the threshold from the row (``recorded`` and
``agreement_min``), so the verdict is stored with the cell like any check's,
and ``lab resume`` scores a replay by the threshold its run started with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "AGREEMENT_CHECK",
    "MIN_COLUMN",
    "RECORDED_COLUMN",
    "agreement",
    "agrees",
    "token_f1",
    "words",
]

AGREEMENT_CHECK = "agreement"  # the check's name in the lab run (reserved)
RECORDED_COLUMN = "recorded"  # the row's column with the recorded answer
MIN_COLUMN = "agreement_min"  # the row's column with the threshold

_WORD = re.compile(r"\w+")


def words(text: str) -> frozenset[str]:
    """The normalised words of ``text`` (NFKC, case-folded, ``\\w+`` runs)."""
    return frozenset(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def token_f1(answer: str, recorded: str) -> Fraction:
    """2 |A ∩ B| / (|A| + |B|) over the two texts' word sets (1 when both are empty)."""
    a, b = words(answer), words(recorded)
    if not a and not b:
        return Fraction(1)
    return Fraction(2 * len(a & b), len(a) + len(b))


def agrees(answer: str, recorded: str, threshold: Decimal) -> bool:
    return token_f1(answer, recorded) >= Fraction(threshold)


def agreement(output: str, row: Mapping[str, str | None]) -> tuple[bool, str]:
    """The lab check: ``output`` against the row's recorded answer and threshold."""
    recorded = row.get(RECORDED_COLUMN) or ""
    threshold = Decimal(row.get(MIN_COLUMN) or "0")
    score = token_f1(output, recorded)
    passed = score >= Fraction(threshold)
    shown = f"{float(score):.2f}"
    relation = "≥" if passed else "<"
    return passed, f"word F1 {shown} {relation} {threshold}"
