"""Mistral's tokenizers, from the files ``mistral-common`` ships in ``mistral_common/data``.

- ``mistral_tekken``: Tekken (tiktoken-based, 131,072 ids), ``tekken_240911.json``
  (Mistral NeMo, Pixtral 12B, Ministral 8B, Mistral Small 24.09; the earlier
  ``tekken_240718.json`` gives the same ids for text).
- ``mistral_spm_v1`` / ``_v2`` / ``_v3`` / ``_v7``: the SentencePiece versions
  (v2 and later put 768 control tokens first, so their ids are v1's plus 768;
  counts agree).

Text is encoded the way mistral-common encodes a message body, without BOS/EOS;
Tekken, which runs on tiktoken, in 25,000-character parts inside longer
whitespace runs (see :func:`~llmtally.tokens.loaders.common.split_long_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmtally.tokens.base import TokenizerUnavailableError
from llmtally.tokens.loaders.common import LONG_WHITESPACE, SplitKind, package_file, split_long_runs

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.base import Tokenizer as MistralBase

__all__ = ["MISTRAL_FILES", "MistralFile", "MistralTokenizer", "load_mistral"]

INSTALL = "pip install 'mistral-common[sentencepiece]'"


@dataclass(frozen=True, slots=True)
class MistralFile:
    name: str
    file: str  # inside mistral_common/data
    tekken: bool


MISTRAL_FILES = {
    f.name: f
    for f in (
        MistralFile("mistral_tekken", "tekken_240911.json", True),
        MistralFile("mistral_spm_v1", "tokenizer.model.v1", False),
        MistralFile("mistral_spm_v2", "mistral_instruct_tokenizer_240216.model.v2", False),
        MistralFile("mistral_spm_v3", "mistral_instruct_tokenizer_240323.model.v3", False),
        MistralFile("mistral_spm_v7", "mistral_instruct_tokenizer_241114.model.v7", False),
    )
}


class MistralTokenizer:
    """An exact tokenizer over mistral-common's Tekkenizer or SentencePieceTokenizer."""

    exact = True

    def __init__(self, name: str, method: str, inner: MistralBase, split_kind: SplitKind) -> None:
        self.name = name
        self.method = method
        self.inner = inner
        self.split_kind = split_kind

    def encode(self, text: str) -> list[int]:
        if self.split_kind is SplitKind.SENTENCEPIECE:
            return self.inner.encode(text, bos=False, eos=False)
        parts = split_long_runs(text, LONG_WHITESPACE)
        return [i for part in parts for i in self.inner.encode(part, bos=False, eos=False)]

    def count(self, text: str) -> int:
        return len(self.encode(text)) if text else 0

    def __repr__(self) -> str:
        return f"<MistralTokenizer {self.name}>"


def load_mistral(name: str) -> MistralTokenizer:
    spec = MISTRAL_FILES[name]
    path = package_file("mistral_common", f"data/{spec.file}", INSTALL)
    inner: MistralBase
    try:
        if spec.tekken:
            from mistral_common.tokens.tokenizers.tekken import Tekkenizer

            inner = Tekkenizer.from_file(path)
        else:
            from mistral_common.tokens.tokenizers.sentencepiece import SentencePieceTokenizer

            inner = SentencePieceTokenizer(str(path))
    except ImportError as err:
        raise TokenizerUnavailableError(
            f"{name} needs mistral-common with sentencepiece ({err}); install it with: {INSTALL}"
        ) from err
    kind = SplitKind.BYTE_LEVEL if spec.tekken else SplitKind.SENTENCEPIECE
    return MistralTokenizer(name, f"mistral-common {spec.file}", inner, kind)
