"""Issue 17: offline token counts for the cloud resellers and China's model APIs.

Azure OpenAI counts with OpenAI's own rules; Bedrock's Claude ids reach the Claude
rules; Qwen3.5 and later count with the Qwen3 vocabulary as an approximation; Kimi, GLM,
Doubao, MiniMax and Hunyuan are documented approximations on that vocabulary; ERNIE
uses Baidu's own Qianfan SDK estimate, int(0.625 x CJK characters + 1 x words)
(qianfan 0.4.12.3, ``Tokenizer._local_count_tokens``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from catalog_cases import prices_cli
from llmtally.catalog.catalog import Catalog
from llmtally.tokens.base import TokenizerUnavailableError
from llmtally.tokens.families import OPENAI_HOSTS, tokenizer_for
from llmtally.tokens.loaders.approx import APPROXIMATIONS
from llmtally.tokens.registry import TokenizerRegistry

AZURE = ("azure", "azure-datazone", "azure-regional")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def registry(catalog: Catalog) -> TokenizerRegistry:
    return TokenizerRegistry(catalog)


# provider, catalog model id, the tokenizer chosen for it.
NAMES = [
    ("azure", "gpt-4.1-2025-04-14", "o200k_base"),
    ("azure-datazone", "gpt-4.1-2025-04-14", "o200k_base"),
    ("azure-regional", "gpt-4.1-2025-04-14", "o200k_base"),
    ("azure", "gpt-4o-mini-2024-07-18", "o200k_base"),
    ("azure", "o3-mini-2025-01-31", "o200k_base"),
    ("azure", "gpt-5.4-2026-03-05-azure", "o200k_base"),  # -azure peeled
    ("azure-datazone", "gpt-image-1-azure", "o200k_base"),
    ("azure", "text-embedding-3-small-azure", "cl100k_base"),
    ("azure-regional", "text-embedding-ada-002-azure", "cl100k_base"),
    ("bedrock", "anthropic.claude-opus-4-7", "claude_approx"),
    ("bedrock", "global.anthropic.claude-opus-4-7", "claude_approx"),
    ("bedrock", "global.anthropic.claude-sonnet-5", "claude_approx"),
    ("bedrock", "meta.llama3-3-70b-instruct-v1:0", "llama3"),
    ("bedrock", "meta.llama4-scout-17b-instruct-v1:0", "llama4"),
    ("vertex", "google/gemini-2.5-pro", "gemini_approx"),
    ("vertex-regional", "google/gemini-3.7-flash", "gemini_approx"),
    ("alibaba-cn", "qwen3-max", "qwen"),
    ("alibaba-cn", "qwen-plus", "qwen"),
    ("alibaba", "qwen-max", "qwen"),
    ("alibaba-cn", "qwen-flash", "qwen"),
    ("alibaba", "qwen-turbo", "qwen"),
    ("alibaba-cn", "qwen3-vl-plus", "qwen"),
    ("alibaba-cn", "qwen3.5-plus", "qwen35_approx"),
    ("alibaba-cn", "qwen3.7-max", "qwen35_approx"),
    ("moonshot", "kimi-k2.5", "kimi_approx"),
    ("moonshot-cn", "kimi-k2.5", "kimi_approx"),
    ("moonshot-cn", "kimi-k2-thinking", "kimi_approx"),
    ("moonshot-cn", "moonshot-v1-8k", "kimi_approx"),
    ("zhipu", "glm-5.1", "glm_approx"),
    ("zhipu", "embedding-3", "glm_approx"),
    ("zai", "glm-4.5", "glm_approx"),
    ("volcengine", "doubao-seed-1-6", "doubao_approx"),
    ("volcengine", "doubao-seed-1-6-thinking", "doubao_approx"),
    ("minimax", "MiniMax-M2.7", "minimax_approx"),
    ("minimax", "M2-her", "minimax_approx"),
    ("minimax-intl", "MiniMax-M3", "minimax_approx"),
    ("tencent", "hunyuan-turbos-latest", "hunyuan_approx"),
    ("baidu", "ernie-4.0-turbo-8k", "ernie_approx"),
]


@pytest.mark.parametrize(("provider", "model", "expected"), NAMES)
def test_catalog_model_resolves_to_its_tokenizer(
    registry: TokenizerRegistry, provider: str, model: str, expected: str
) -> None:
    ref, name = registry.tokenizer_name(model, provider)
    assert (ref.provider, name) == (provider, expected)


# Ids Bedrock accepts that the catalog need not list: profiles, ARNs, legacy Claude.
BEDROCK_IDS = [
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude_approx"),
    ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude_approx"),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude_approx",
    ),
    ("anthropic.claude-v2:1", "claude_legacy"),
    ("anthropic.claude-instant-v1", "claude_legacy"),
    ("meta.llama3-1-8b-instruct-v1:0", "llama3"),
]


@pytest.mark.parametrize(("model", "expected"), BEDROCK_IDS)
def test_bedrock_ids(model: str, expected: str) -> None:
    assert tokenizer_for("bedrock", model) == expected


def test_speech_models_say_why_they_have_no_tokenizer() -> None:
    with pytest.raises(TokenizerUnavailableError, match="per character"):
        tokenizer_for("minimax-intl", "speech-2.8-hd")


def test_third_party_hosts_keep_no_vendor_rule() -> None:
    # The vendor approximations rest on each vendor's own platform; Together's open
    # weights stay unmapped (tests/test_tokens_registry.py pins Kimi there).
    with pytest.raises(TokenizerUnavailableError, match="no tokenizer rule"):
        tokenizer_for("together", "moonshotai/Kimi-K2-Instruct")


def test_every_azure_model_counts_as_openai_counts_it(catalog: Catalog) -> None:
    assert set(AZURE) < set(OPENAI_HOSTS)
    seen = 0
    for ref in catalog.refs():
        if ref.provider in AZURE:
            openai_id = ref.spec.id.removesuffix("-azure")
            assert tokenizer_for(ref.provider, ref.spec.id) == tokenizer_for("openai", openai_id)
            seen += 1
    assert seen >= 60  # 25 global + 25 data zone + 16 regional on 2026-12-07


def test_azure_counts_equal_openai_counts(registry: TokenizerRegistry) -> None:
    text = "hello world"  # o200k_base: "hello", " world" = 2 tokens
    counts = {
        provider: registry.for_model("gpt-4.1-2025-04-14", provider)[1].count(text)
        for provider in ("openai", *AZURE)
    }
    assert counts == {"openai": 2, "azure": 2, "azure-datazone": 2, "azure-regional": 2}
    long = "Azure OpenAI bills the tokens OpenAI's tokenizer counts. " * 50
    assert len({registry.for_model("gpt-4.1-2025-04-14", p)[1].count(long) for p in counts}) == 1


ZH = "百度千帆大模型平台，支持文心一言。"  # 9 + 6 = 15 CJK characters, 2 punctuation marks
EN = "ERNIE counts tokens on Qianfan, offline."  # 6 words: ERNIE counts tokens on Qianfan offline


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ZH, 9),  # int(15 x 0.625 + 0) = int(9.375) = 9
        (EN, 6),  # int(0 x 0.625 + 6 x 1) = 6
        (ZH + EN, 15),  # int(9.375 + 6) = int(15.375) = 15
        ("ERNIE 4.0 很强", 4),  # words ERNIE, 4, 0 ('.' is punctuation) = 3; int(1.25 + 3) = 4
        ("你好", 1),  # int(2 x 0.625) = int(1.25) = 1
        ("", 0),
        ("ｶﾀｶﾅ and 한국어", 3),  # outside U+4E00..U+9FFF: words ｶﾀｶﾅ, and, 한국어 = 3
    ],
)
def test_ernie_counts_with_baidus_formula(
    registry: TokenizerRegistry, text: str, expected: int
) -> None:
    ernie = registry.get("ernie_approx")
    assert not ernie.exact
    assert ernie.count(text) == expected


@pytest.mark.parametrize(
    "name", ["kimi_approx", "glm_approx", "doubao_approx", "minimax_approx", "hunyuan_approx"]
)
def test_vendor_approximations_count_with_qwen(registry: TokenizerRegistry, name: str) -> None:
    approx = registry.get(name)
    qwen = registry.get("qwen")
    assert not approx.exact and APPROXIMATIONS[name].base == "qwen"
    assert approx.count("hello world") == 2  # Qwen's byte-level BPE: "hello", " world"
    assert approx.count(ZH) == qwen.count(ZH) and approx.count(EN) == qwen.count(EN)
    with pytest.raises(NotImplementedError):
        approx.encode(EN)
    assert "2026-12-07" in approx.method and "Exact:" in approx.method


def test_kimi_does_not_undercount_against_moonshots_ratio(registry: TokenizerRegistry) -> None:
    # Moonshot's docs: 1 token is about 1.5-2 characters of ordinary Chinese text. The
    # built-in zh corpus has 584 CJK characters: 584 / 2 = 292 to 584 / 1.5 = 389.3
    # tokens. The qwen proxy counts more, so Kimi estimates and budgets err high.
    from llmtally.tokens.languages import load_corpus

    zh = next(p for p in load_corpus() if p.code == "zh")
    text = "".join(zh.passages)
    assert sum(0x4E00 <= ord(c) <= 0x9FFF for c in text) == 584
    assert registry.get("kimi_approx").count(text) >= 390


def test_qwen_later_names_count_with_the_qwen3_vocabulary(registry: TokenizerRegistry) -> None:
    qwen = registry.get("qwen")
    later = registry.get("qwen35_approx")
    assert qwen.exact and not later.exact
    assert later.count(ZH) == qwen.count(ZH)
    _, max3 = registry.for_model("qwen3-max", "alibaba-cn")
    assert max3 is qwen and max3.count("hello world") == 2  # "hello", " world"
    assert tokenizer_for("together", "Qwen/Qwen3.5-397B-A17B") == "qwen35_approx"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    return prices_cli(tmp_path, monkeypatch)


def _estimate(run: Callable[..., Result], models: str) -> dict[str, dict[str, object]]:
    result = run("estimate", "examples/support-bot.yaml", "--models", models, "--json")
    assert result.exit_code == 0, result.output
    return {m["model"]: m for m in json.loads(result.output)["models"]}


def test_estimate_end_to_end_on_azure_and_bedrock(run: Callable[..., Result]) -> None:
    rows = _estimate(run, "azure/gpt-4.1-2025-04-14,bedrock/global.anthropic.claude-sonnet-5")
    assert set(rows) == {"azure/gpt-4.1-2025-04-14", "bedrock/global.anthropic.claude-sonnet-5"}
    (openai,) = _estimate(run, "openai/gpt-4.1-2025-04-14").values()
    azure_calls = rows["azure/gpt-4.1-2025-04-14"]["calls"]
    openai_calls = openai["calls"]
    assert isinstance(azure_calls, list) and isinstance(openai_calls, list)
    assert azure_calls[0]["tokens_per_call"] == openai_calls[0]["tokens_per_call"]
