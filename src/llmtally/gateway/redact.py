"""Secrets out of what the gateway stores: the one place texts are redacted.

Two nets: patterns for keys wherever they come from (a key pasted into a
prompt, an upstream error that echoes one), and the exact keys the call
carried (its key headers and the upstreams' own keys), which catch keys of any
shape (Azure, Mistral, Groq...) that no pattern knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from llmtally.gateway.keys import KEY_HEADERS

__all__ = [
    "BUILTIN_REDACTIONS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "Redactor",
    "may_hold_builtin",
    "secrets_of",
]

REDACTED = "[redacted]"
# Provider keys (OpenAI sk-..., Anthropic sk-ant-..., Google AIza...), gateway
# keys, bearer tokens.
BUILTIN_REDACTIONS = (
    r"sk-(ant-)?[A-Za-z0-9_\-]{16,}",
    r"llt-[A-Za-z0-9_\-]{16,}",
    r"AIza[0-9A-Za-z_\-]{30,}",
    r"(?i:bearer)\s+[A-Za-z0-9._\-]{16,}",
)
# Shorter values are not taken for secrets (a placeholder key such as "none").
MIN_SECRET_LENGTH = 8
# Each built-in pattern starts with one of these literals ("bearer" in any case:
# its letters match only ASCII b/B, e/E, a/A, r/R, which lower() maps one to one).
# Searching for them costs a fraction of running the patterns' alternation at every
# position; a text with none of them cannot match, so the regex is skipped.
_BUILTIN_STARTS = tuple(re.compile(start) for start in ("sk-", "llt-", "AIza"))
_BEARER = re.compile("bearer")


def secrets_of(
    headers: Mapping[str, str], upstream_keys: Iterable[str | None], more: Iterable[str] = ()
) -> frozenset[str]:
    """The exact secrets of one call: the values of its key headers (a bearer
    token without its scheme; an AWS SigV4 header whole and its signature too),
    the upstreams' own keys and ``more`` (the AWS secret a call was signed with,
    and that signature)."""
    found: set[str] = set()
    for name in KEY_HEADERS:
        value = headers.get(name)
        if not value:  # absent or empty: nothing to find
            continue
        scheme, _, token = value.partition(" ")
        found.add(token.strip() if scheme.lower() == "bearer" else value.strip())
        if scheme == "AWS4-HMAC-SHA256":
            found.update(_sigv4_parts(token))
    found.update(key.strip() for key in upstream_keys if key)
    found.update(more)
    return frozenset(s for s in found if len(s) >= MIN_SECRET_LENGTH)


def _sigv4_parts(fields: str) -> list[str]:
    """The signature of ``Credential=..., SignedHeaders=..., Signature=HEX``."""
    parts = (part.strip().partition("=") for part in fields.split(","))
    return [value for key, _, value in parts if key == "Signature" and value]


class Redactor:
    """``Redactor(patterns)(text, secrets)``: ``text`` with every exact secret and
    every match of the built-in and the configured patterns replaced by ``[redacted]``."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        every = (*BUILTIN_REDACTIONS, *patterns)
        self._pattern = re.compile("|".join(f"(?:{p})" for p in every))
        # configured patterns have no known start: with any, the regex always runs
        self._builtin_only = len(every) == len(BUILTIN_REDACTIONS)

    def __call__(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in sorted(secrets, key=len, reverse=True):  # a key inside a longer one
            text = text.replace(secret, REDACTED)
        if self._builtin_only and not may_hold_builtin(text):
            return text
        return self._pattern.sub(REDACTED, text)


def may_hold_builtin(text: str) -> bool:
    """False only where no built-in pattern can match: none of their starts occurs."""
    return (
        any(start.search(text) for start in _BUILTIN_STARTS)
        or _BEARER.search(text.lower()) is not None
    )
