"""Gemini's REST paths carry the model: ``/v1beta/models/{model}:generateContent``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from llmtally.providers.wires import GEMINI_PATH

__all__ = ["GeminiTarget", "gemini_target"]


@dataclass(frozen=True, slots=True)
class GeminiTarget:
    version: str
    model: str
    action: str

    @property
    def stream(self) -> bool:
        return self.action == "streamGenerateContent"

    def path_for(self, model: str) -> str:
        return f"/{self.version}/models/{model}:{self.action}"

    @staticmethod
    def sse(query: bytes) -> bool:
        """Streams are server-sent events only with ``alt=sse`` (else a JSON array)."""
        return parse_qs(query.decode("latin-1")).get("alt") == ["sse"]


def gemini_target(path: str) -> GeminiTarget | None:
    match = GEMINI_PATH.match(path)
    if match is None:
        return None
    return GeminiTarget(match.group(1), match.group(2), match.group(3))
