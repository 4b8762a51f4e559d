"""The redactor skips its patterns' regex over a text in which no built-in pattern
can start, and gives exactly what running the regex gives; with configured
patterns the regex always runs."""

from __future__ import annotations

import random
import re

from llmtally.gateway.redact import (
    BUILTIN_REDACTIONS,
    REDACTED,
    Redactor,
    may_hold_builtin,
)

# The combined built-in patterns, as the redactor ran them on every text before.
EVERY = re.compile("|".join(f"(?:{p})" for p in BUILTIN_REDACTIONS))
# One text each built-in pattern matches (the test fails when one is added
# without a sample, so a new pattern cannot slip past the shortcut untested).
SAMPLES = {
    r"sk-(ant-)?[A-Za-z0-9_\-]{16,}": "sk-ant-api03-abcdefghijklmnop",
    r"llt-[A-Za-z0-9_\-]{16,}": "llt-0123456789abcdef",
    r"AIza[0-9A-Za-z_\-]{30,}": "AIzaSyA1234567890abcdefghijklmnopqrs",
    r"(?i:bearer)\s+[A-Za-z0-9._\-]{16,}": "BeArEr eyJhbGciOiJIUzI1NiJ9.payload",
}


def test_every_built_in_pattern_is_seen_by_the_shortcut() -> None:
    assert set(SAMPLES) == set(BUILTIN_REDACTIONS)
    for pattern, sample in SAMPLES.items():
        assert re.fullmatch(pattern, sample)
        assert may_hold_builtin(f"before {sample} after")
        assert Redactor()(f"before {sample} after") == f"before {REDACTED} after"


def test_a_text_without_any_start_is_left_alone() -> None:
    text = '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Bear with me"}]}'
    assert not may_hold_builtin(text)  # "Bear" is not "bearer"; no sk-, llt-, AIza
    assert Redactor()(text) == text


def test_starts_that_match_no_pattern_give_the_regexs_answer() -> None:
    # "task-" holds "sk-" and the word bearer appears, but no key follows either
    text = "a task-based plan; the bearer of bad news; AIza short"
    assert may_hold_builtin(text)
    assert Redactor()(text) == text


def test_a_secret_is_replaced_on_the_shortcut_path() -> None:
    secret = "3f9a1c0e5b7d4a2f8e6c1b0a9d8f7e6c"  # Azure's shape: no pattern knows it
    text = f'{{"error": "key {secret} refused"}}'
    assert not may_hold_builtin(text)
    assert Redactor()(text, {secret}) == '{"error": "key [redacted] refused"}'


def test_configured_patterns_always_run() -> None:
    text = "account acct-123456 closed"  # no built-in start in it
    assert not may_hold_builtin(text)
    assert Redactor([r"acct-\d{6}"])(text) == "account [redacted] closed"


def test_random_texts_match_the_regex_on_every_text() -> None:
    rng = random.Random(16)
    pieces = [
        *SAMPLES.values(),
        "sk-",
        "sk-short",
        "llt-",
        "AIza",
        "bearer",
        "BEARER ",
        "Bearer\t",
        "ordinary words ",
        "-_.",
        "0123456789abcdefghij",
        "\u0130\u017f\u212a",  # letters whose case folding is not ASCII's
        "é漢字🙂",
        "\n",
        " ",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert Redactor()(text) == EVERY.sub(REDACTED, text), text
