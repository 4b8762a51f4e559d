"""JSON on the gateway's hot path: orjson where it gives exactly what the
standard library gives, :mod:`json` everywhere else (issue 16).

orjson parses a chat request 3-4x faster (benchmarks/RESULTS.md, "gateway: server
protocol choice"), but it differs from the standard library in three ways, each
handed back to :func:`json.loads` so callers see one behaviour:

- an integer beyond 64 bits becomes a float in orjson (an int in json): any run of
  19 or more digits sends the text to json;
- ``NaN``, ``Infinity`` and numbers that overflow a double are errors in orjson
  (floats in json);
- a lone surrogate escape (``"\\ud800"``) is an error in orjson (kept in json).

Every text orjson refuses is parsed again by json, so an invalid text raises
json's own error (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes that
are not UTF-8), with json's message.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

__all__ = ["dumps_line", "loads"]

_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")
_LONG_DIGITS_TEXT = re.compile(r"\d{19}")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """``json.loads(data)``, faster."""
    if isinstance(data, str):
        plain = _LONG_DIGITS_TEXT.search(data) is None
    else:
        data = bytes(data)
        plain = _LONG_DIGITS_BYTES.search(data) is None
    if plain:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps_line(obj: Any) -> bytes:
    """One compact JSON line (UTF-8, ending in a newline) that :func:`loads` reads
    back to what ``json.dumps(obj, separators=(",", ":"))`` would give. orjson writes
    non-ASCII characters as UTF-8 rather than ``\\u`` escapes (the same text once
    read); a value orjson would change or refuse (a NaN or infinite float, which it
    writes as ``null``; an integer beyond 64 bits; a lone surrogate) goes through
    json, as does anything json refuses too (its own error)."""
    if _finite(obj):
        try:
            return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            pass
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8")


def _finite(obj: Any) -> bool:
    """No NaN or infinite float anywhere in ``obj``."""
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return all(_finite(v) for v in obj)
    return True
