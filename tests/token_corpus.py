"""What the tokenizer tests share: the mixed corpus and the exact tokenizers."""

from __future__ import annotations

from pathlib import Path

CORPUS = (Path(__file__).parent / "fixtures" / "tokens" / "mixed.txt").read_text(encoding="utf-8")
EXACT = [
    "cl100k_base",
    "o200k_base",
    "o200k_harmony",
    "llama3",
    "llama4",
    "qwen",
    "deepseek_v3",
    "claude_legacy",
    "mistral_tekken",
    "mistral_spm_v1",
    "mistral_spm_v2",
    "mistral_spm_v3",
    "mistral_spm_v7",
]
# Exact because they are the model's own runtime (llama.cpp reading the model's
# GGUF), so there is no separate reference to hold them against; see
# tests/test_local_model.py for a check against the model server's reported counts.
OWN_RUNTIME = ["smollm2"]
