"""System prompt fingerprints kept for prompts seen again: the same value as
computed afresh, different prompts differ, and the table is bounded."""

from __future__ import annotations

import hashlib

from llmtally.gateway import fingerprint
from llmtally.gateway.fingerprint import CACHED_CHARS, CACHED_PROMPTS, prompt_fingerprint


def _by_hand(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def test_a_kept_fingerprint_is_the_hash_of_the_canonical_json() -> None:
    # canonical JSON of ["You are terse.", "Answer in French."], written out by hand
    expected = _by_hand('["You are terse.","Answer in French."]')
    assert prompt_fingerprint(["You are terse.", "Answer in French."]) == expected
    assert prompt_fingerprint(["You are terse.", "Answer in French."]) == expected
    assert prompt_fingerprint(["You are terse."]) == _by_hand('["You are terse."]')
    assert prompt_fingerprint(["You are terse.", "Answer in German."]) != expected


def test_prompts_that_are_not_kept_hash_the_same_way() -> None:
    blocks = [[{"type": "text", "text": "Hi"}]]  # Anthropic blocks: sorted keys
    assert prompt_fingerprint(blocks) == _by_hand('[[{"text":"Hi","type":"text"}]]')
    long = "é" * (CACHED_CHARS + 1)
    assert prompt_fingerprint([long]) == _by_hand('["' + long + '"]')
    assert prompt_fingerprint([]) is None


def test_at_most_the_bound_of_prompts_is_kept() -> None:
    for i in range(CACHED_PROMPTS + 20):
        prompt_fingerprint([f"prompt {i}"])
    assert fingerprint._of_texts.cache_info().currsize == CACHED_PROMPTS == 128
