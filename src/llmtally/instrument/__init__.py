"""Record the calls applications make with the official LLM SDKs, unchanged.

``llmtally.instrument()`` patches the installed SDKs once (today the ``openai``
SDK, whatever the endpoint, the ``anthropic`` SDK's Messages API and the
``google-genai`` SDK's generateContent on the Gemini API: sync and async
clients, plain and streamed);
``llmtally.attribute(user=..., feature=..., tags=...)`` says who and what the
calls inside a block are for. Each call is read, priced and recorded by the
gateway's own code, into the same ledger. Nothing llmtally does changes what
the application sees; its own errors are counted (:func:`internal_errors`).
"""

from __future__ import annotations

import sys
import types

from llmtally.instrument.context import Attribution, attribute
from llmtally.instrument.record import STATS
from llmtally.instrument.setup import flush, instrument, instrumented, uninstrument

__all__ = [
    "Attribution",
    "attribute",
    "flush",
    "instrument",
    "instrumented",
    "internal_errors",
    "uninstrument",
]


def internal_errors() -> int:
    """How many errors inside llmtally the instrumentation absorbed (fail open)."""
    return STATS.internal_errors


class _Callable(types.ModuleType):
    """This package is ``llmtally.instrument`` once imported, where the function of
    that name is expected: calling the package calls :func:`instrument`."""

    __call__ = staticmethod(instrument)  # one signature: instrument()'s


sys.modules[__name__].__class__ = _Callable
