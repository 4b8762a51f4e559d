"""The registry of offline tokenizers: names -> lazily loaded tokenizers.

Importing this module loads nothing: each tokenizer's library (tiktoken,
tokenizers, mistral-common) is imported, and its data read, the first time
the tokenizer is asked for, once per registry.

    registry = default_registry()
    ref, tokenizer = registry.for_model("gpt-4o-2024-08-06")
    tokenizer.count("hello")
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from llmtally.catalog.catalog import Catalog
from llmtally.catalog.matching import ModelRef
from llmtally.tokens.base import Tokenizer
from llmtally.tokens.families import tokenizer_for
from llmtally.tokens.loaders import gguf, hf, llama, mistral, openai, qianfan
from llmtally.tokens.loaders.approx import APPROXIMATIONS, Approximation

__all__ = ["BUILTIN_LOADERS", "TokenizerRegistry", "UnknownTokenizerError", "default_registry"]

Loader = Callable[[], Tokenizer]


class UnknownTokenizerError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown tokenizer {name!r}; known: {', '.join(known)}")
        self.name = name


def _mistral(name: str) -> Loader:
    return lambda: mistral.load_mistral(name)


BUILTIN_LOADERS: dict[str, Loader] = {
    "o200k_base": openai.load_o200k_base,
    "cl100k_base": openai.load_cl100k_base,
    "o200k_harmony": openai.load_o200k_harmony,
    "llama3": llama.load_llama3,
    "llama4": llama.load_llama4,
    "qwen": hf.load_qwen,
    "deepseek_v3": hf.load_deepseek_v3,
    "claude_legacy": hf.load_claude_legacy,
    "smollm2": gguf.load_smollm2,
    "qianfan_local": qianfan.load_qianfan_local,
    **{name: _mistral(name) for name in mistral.MISTRAL_FILES},
}


class TokenizerRegistry:
    """Tokenizers by name, each loaded on first use and kept; models via the catalog."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        loaders: dict[str, Loader] | None = None,
    ) -> None:
        self._catalog = catalog
        self._loaders: dict[str, Loader] = dict(BUILTIN_LOADERS if loaders is None else loaders)
        for spec in APPROXIMATIONS.values():
            if loaders is None or spec.base in self._loaders:
                self._loaders[spec.name] = functools.partial(self._approximation, spec.name)
        self._loaded: dict[str, Tokenizer] = {}
        self._lock = threading.RLock()

    def _approximation(self, name: str) -> Tokenizer:
        spec = APPROXIMATIONS[name]
        return Approximation(spec, self.get(spec.base))

    def register(self, name: str, loader: Loader) -> None:
        """Add (or replace) a tokenizer; a replaced one is loaded afresh."""
        with self._lock:
            self._loaders[name] = loader
            self._loaded.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._loaders)

    def get(self, name: str) -> Tokenizer:
        """The tokenizer ``name``, loaded once; TokenizerUnavailableError if its data
        is not installed (the message gives the install command)."""
        hit = self._loaded.get(name)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._loaded.get(name)
            if hit is None:
                loader = self._loaders.get(name)
                if loader is None:
                    raise UnknownTokenizerError(name, self.names())
                hit = loader()
                self._loaded[name] = hit
            return hit

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from llmtally.config import open_catalog

            self._catalog = open_catalog()
        return self._catalog

    def tokenizer_name(self, model: str, provider: str | None = None) -> tuple[ModelRef, str]:
        """The catalog entry for ``model`` and the name of the tokenizer that counts it.

        UnknownModelError (with near names) when the catalog does not know it;
        TokenizerUnavailableError when no tokenizer is known for it."""
        ref = self.catalog.lookup(provider, model)
        return ref, tokenizer_for(ref.provider, ref.spec.id)

    def for_model(self, model: str, provider: str | None = None) -> tuple[ModelRef, Tokenizer]:
        ref, name = self.tokenizer_name(model, provider)
        return ref, self.get(name)


@functools.cache
def default_registry() -> TokenizerRegistry:
    """One shared registry over the catalog the settings open (on first model lookup)."""
    return TokenizerRegistry()
