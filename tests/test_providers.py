"""Provider usage objects -> Usage: documented fixtures, exact errors, identities."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmtally.providers as providers
from llmtally.providers import (
    InconsistentUsageError,
    ProviderUsageError,
    Registry,
    UnknownProviderError,
    default_registry,
    parse_usage,
)
from llmtally.usage import Usage, UsageError

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "usage").glob("*.json"))
PROPERTY = settings(max_examples=200, deadline=None, database=None)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- documented usage objects ---------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_parses_to_expected_usage(path: Path) -> None:
    fixture = _load(path)
    assert set(fixture) <= {"source", "provider", "note", "usage", "expected"}
    assert fixture["source"].startswith("https://")
    assert parse_usage(fixture["provider"], fixture["usage"]) == Usage(**fixture["expected"])


def test_every_provider_has_at_least_two_fixtures() -> None:
    registry = default_registry()
    per_provider = Counter(registry.canonical(_load(p)["provider"]) for p in FIXTURES)
    assert {name: per_provider[name] for name in registry.providers if per_provider[name] < 2} == {}


# --- malformed usage: the message names the provider and the field path ---------------

CHAT = {"prompt_tokens": 10, "completion_tokens": 4}


@pytest.mark.parametrize(
    ("provider", "usage", "message"),
    [
        (
            "openai",
            {**CHAT, "prompt_tokens_details": {"cached_tokens": -3}},
            "openai: usage.prompt_tokens_details.cached_tokens: "
            "must be a whole number >= 0, got -3",
        ),
        (
            "groq",
            {**CHAT, "completion_tokens_details": {"rejected_prediction_tokens": "3"}},
            "groq: usage.completion_tokens_details.rejected_prediction_tokens: "
            "must be a whole number >= 0, got '3'",
        ),
        (
            "openai",
            {**CHAT, "prompt_tokens_details": "cached"},
            "openai: usage.prompt_tokens_details: must be an object, got 'cached'",
        ),
        (
            "openai",
            {"completion_tokens": 4},
            "openai: usage.prompt_tokens: required field is missing",
        ),
        (
            "openai",
            {"prompt_tokens": None, "completion_tokens": 4},
            "openai: usage.prompt_tokens: required field is null",
        ),
        ("openai", {"output_tokens": 4}, "openai: usage.input_tokens: required field is missing"),
        (
            "openrouter",
            {"prompt_tokens": 10, "total_tokens": 14},
            "openrouter: usage.completion_tokens: required field is missing",
        ),
        (
            "anthropic",
            {"input_tokens": "12", "output_tokens": 1},
            "anthropic: usage.input_tokens: must be a whole number >= 0, got '12'",
        ),
        (
            "anthropic",
            {"input_tokens": 12},
            "anthropic: usage.output_tokens: required field is missing",
        ),
        (
            "anthropic",
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_1h_input_tokens": -5},
            },
            "anthropic: usage.cache_creation.ephemeral_1h_input_tokens: "
            "must be a whole number >= 0, got -5",
        ),
        (
            "anthropic",
            {"input_tokens": 1, "output_tokens": 1, "service_tier": "turbo"},
            "anthropic: usage.service_tier: must be one of standard, priority, batch, got 'turbo'",
        ),
        (
            "anthropic",
            {"input_tokens": 1, "output_tokens": 1, "service_tier": 2},
            "anthropic: usage.service_tier: must be a string, got 2",
        ),
        (
            "gemini",
            {
                "promptTokenCount": 9,
                "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": -1}],
            },
            "google: usage.promptTokensDetails[0].tokenCount: must be a whole number >= 0, got -1",
        ),
        (
            "gemini",
            {"promptTokenCount": 9, "candidatesTokensDetails": {"modality": "TEXT"}},
            "google: usage.candidatesTokensDetails: "
            "must be a list or null, got {'modality': 'TEXT'}",
        ),
        (
            "vertex_ai",
            {"candidates_token_count": 3},
            "google: usage.prompt_token_count: required field is missing",
        ),
        (
            "deepseek",
            {**CHAT, "prompt_cache_hit_tokens": 6, "prompt_cache_miss_tokens": 3},
            "deepseek: usage.prompt_cache_hit_tokens + usage.prompt_cache_miss_tokens = 9 "
            "must equal usage.prompt_tokens = 10",
        ),
        ("openai", [10, 4], "openai: usage: must be an object, got [10, 4]"),
    ],
)
def test_malformed_usage_names_provider_and_field(provider: str, usage: Any, message: str) -> None:
    with pytest.raises(ProviderUsageError) as caught:
        parse_usage(provider, usage)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("provider", "usage", "message"),
    [
        (
            "openai",
            {**CHAT, "prompt_tokens_details": {"cached_tokens": 20}},
            "openai: cache_read_tokens + cache_write_tokens = 20 exceeds input_tokens = 10",
        ),
        (
            "together",
            {**CHAT, "completion_tokens_details": {"reasoning_tokens": 5}},
            "together: reasoning_tokens + output_audio_tokens + output_image_tokens = 5 "
            "exceeds output_tokens = 4",
        ),
        (
            "anthropic",
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation_input_tokens": 10,
                "cache_creation": {"ephemeral_1h_input_tokens": 20},
            },
            "anthropic: cache_write_1h_tokens = 20 exceeds cache_write_tokens = 10",
        ),
    ],
)
def test_subset_above_total_is_a_usage_error_naming_the_provider(
    provider: str, usage: dict[str, Any], message: str
) -> None:
    with pytest.raises(InconsistentUsageError) as caught:
        parse_usage(provider, usage)
    assert str(caught.value) == message
    assert isinstance(caught.value, UsageError)
    assert isinstance(caught.value.__cause__, UsageError)


# --- the registry ----------------------------------------------------------------------


def test_unknown_provider_lists_known_providers_and_aliases() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        parse_usage("cohere", CHAT)
    assert str(caught.value) == (
        "unknown provider 'cohere'; known: alibaba (alibaba-cn, dashscope), anthropic, "
        "azure (azure-datazone, azure-regional), baidu (qianfan), "
        "bedrock (aws-bedrock, bedrock-cross-region), "
        "deepseek, google (gemini, google-gla, google-vertex, vertex_ai), groq, mistral, "
        "moonshot (kimi, moonshot-cn), openai, openrouter, together (together_ai, togetherai), "
        "volcengine (doubao), xai (grok, x-ai), zai (zhipu)"
    )
    assert isinstance(caught.value, LookupError)
    assert caught.value.provider == "cohere"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("OpenAI", "openai"),
        (" Anthropic ", "anthropic"),
        ("gemini", "google"),
        ("Vertex_AI", "google"),
        ("google-gla", "google"),
        ("google-vertex", "google"),
        ("together_ai", "together"),
        ("TogetherAI", "together"),
        ("x-ai", "xai"),
        ("Grok", "xai"),
    ],
)
def test_provider_names_are_case_insensitive_with_aliases(name: str, canonical: str) -> None:
    registry = default_registry()
    assert registry.canonical(name) == canonical
    assert registry.parser_for(name) is registry.parser_for(canonical)


def test_a_test_double_enters_through_register() -> None:
    registry = Registry()
    registry.register("Fake", lambda usage: Usage(input_tokens=usage["n"]), aliases=("phony",))
    assert parse_usage("PHONY", {"n": 3}, registry=registry) == Usage(input_tokens=3)
    with pytest.raises(UnknownProviderError, match=r"known: fake \(phony\)$"):
        parse_usage("openai", CHAT, registry=registry)


def test_a_name_is_registered_once() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="provider name 'gemini' is already registered"):
        registry.register("gemini", providers.parse_gemini)
    with pytest.raises(ValueError, match="may not be empty"):
        Registry().register(" ", providers.parse_openai)


def test_default_registry_is_fresh_each_call() -> None:
    first, second = default_registry(), default_registry()
    assert first is not second
    first.register("local", providers.parse_openai)
    assert "local" not in second.providers
    assert "local" not in default_registry().providers


def test_exported_names_exist() -> None:
    assert all(hasattr(providers, name) for name in providers.__all__)


# --- provider rules that fixtures alone do not pin down --------------------------------


def test_openai_null_details_and_gateway_extras() -> None:
    usage = {
        "prompt_tokens": 7,
        "completion_tokens": 2,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
        "input_tokens": 0,  # zeroed Responses fields some gateways add
        "output_tokens": 0,
        "input_tokens_details": None,
    }
    assert parse_usage("openai", usage) == Usage(input_tokens=7, output_tokens=2)


def test_xai_adds_reasoning_to_completion_as_documented() -> None:
    usage: dict[str, Any] = {
        "prompt_tokens": 32,
        "completion_tokens": 9,
        "completion_tokens_details": {"reasoning_tokens": 94},
    }
    assert parse_usage("xai", usage) == Usage(
        input_tokens=32, output_tokens=103, reasoning_tokens=94
    )
    with pytest.raises(InconsistentUsageError):  # OpenAI's rule would be impossible here
        parse_usage("openai", usage)


def test_xai_total_that_already_holds_reasoning_is_not_double_counted() -> None:
    usage: dict[str, Any] = {
        "prompt_tokens": 163,
        "completion_tokens": 241,
        "total_tokens": 404,
        "completion_tokens_details": {"reasoning_tokens": 204},
    }
    assert parse_usage("xai", usage).output_tokens == 241
    usage["total_tokens"] = 163 + 241 + 204
    assert parse_usage("xai", usage).output_tokens == 445


def test_anthropic_write_split_and_thinking_tokens() -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 87,
        "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 70},
        "output_tokens_details": {"thinking_tokens": 55},
        "server_tool_use": {"web_search_requests": "not a count, and not read"},
    }
    # With no cache_creation_input_tokens, the TTL split is the write total.
    assert parse_usage("anthropic", usage) == Usage(
        input_tokens=105,
        cache_write_tokens=100,
        cache_write_1h_tokens=70,
        output_tokens=87,
        reasoning_tokens=55,
    )


def test_gemini_live_api_names_and_modalities() -> None:
    usage = {
        "promptTokenCount": 40,
        "responseTokenCount": 300,
        "promptTokensDetails": [{"modality": "audio", "tokenCount": 40}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 290}, {"modality": "TEXT"}],
        "toolUsePromptTokenCount": 10,
        "toolUsePromptTokensDetails": [{"modality": "IMAGE", "tokenCount": 10}],
    }
    assert parse_usage("google", usage) == Usage(
        input_tokens=50,
        input_audio_tokens=40,
        input_image_tokens=10,
        output_tokens=300,
        output_audio_tokens=290,
    )


def test_deepseek_without_hit_fields_reads_openai_cached_tokens() -> None:
    usage = {**CHAT, "prompt_tokens_details": {"cached_tokens": 6}}
    assert parse_usage("deepseek", usage) == Usage(
        input_tokens=10, cache_read_tokens=6, output_tokens=4
    )


# --- identities over random valid usage objects ----------------------------------------

counts = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def openai_chat_usage(draw: st.DrawFn) -> dict[str, Any]:
    prompt, completion = draw(counts), draw(counts)
    cached = draw(st.integers(0, prompt))
    audio_in = draw(st.integers(0, prompt))
    reasoning = draw(st.integers(0, completion))
    audio_out = draw(st.integers(0, completion - reasoning))
    details_in = draw(st.sampled_from([None, {"cached_tokens": cached, "audio_tokens": audio_in}]))
    details_out = draw(
        st.sampled_from([None, {"reasoning_tokens": reasoning, "audio_tokens": audio_out}])
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details_in,
        "completion_tokens_details": details_out,
    }


@PROPERTY
@given(openai_chat_usage())
def test_openai_totals_are_kept_and_details_are_subsets(usage: dict[str, Any]) -> None:
    parsed = parse_usage("openai", usage)
    details_in = usage["prompt_tokens_details"] or {}
    details_out = usage["completion_tokens_details"] or {}
    assert parsed.input_tokens == usage["prompt_tokens"]
    assert parsed.cache_read_tokens == details_in.get("cached_tokens", 0)
    assert parsed.input_audio_tokens == details_in.get("audio_tokens", 0)
    assert parsed.output_tokens == usage["completion_tokens"]  # reasoning not added
    assert parsed.reasoning_tokens == details_out.get("reasoning_tokens", 0)
    assert parsed.total_tokens == usage["total_tokens"]


@st.composite
def anthropic_usage(draw: st.DrawFn) -> dict[str, Any]:
    five_minutes, one_hour = draw(counts), draw(counts)
    return {
        "input_tokens": draw(counts),
        "cache_read_input_tokens": draw(counts),
        "cache_creation_input_tokens": five_minutes + one_hour,
        "cache_creation": {
            "ephemeral_5m_input_tokens": five_minutes,
            "ephemeral_1h_input_tokens": one_hour,
        },
        "output_tokens": draw(counts),
        "service_tier": draw(st.sampled_from(["standard", "priority", "batch"])),
    }


@PROPERTY
@given(anthropic_usage())
def test_anthropic_input_is_the_sum_of_the_three_fields(usage: dict[str, Any]) -> None:
    parsed = parse_usage("anthropic", usage)
    assert parsed.input_tokens == (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    assert parsed.uncached_input_tokens == usage["input_tokens"]
    assert parsed.cache_read_tokens == usage["cache_read_input_tokens"]
    assert parsed.cache_write_tokens == usage["cache_creation_input_tokens"]
    assert parsed.cache_write_1h_tokens == usage["cache_creation"]["ephemeral_1h_input_tokens"]
    assert parsed.output_tokens == usage["output_tokens"]
    assert parsed.service_tier == usage["service_tier"]


@PROPERTY
@given(counts, counts, counts, counts, st.booleans())
def test_gemini_output_adds_thoughts_and_input_adds_tool_use(
    prompt: int, candidates: int, thoughts: int, tool_use: int, snake: bool
) -> None:
    usage = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": prompt // 2,
        "candidatesTokenCount": candidates,
        "thoughtsTokenCount": thoughts,
        "toolUsePromptTokenCount": tool_use,
        "totalTokenCount": prompt + candidates + thoughts + tool_use,
    }
    if snake:  # the google-genai SDK's model_dump() spelling
        usage = {re.sub("(?<!^)(?=[A-Z])", "_", key).lower(): n for key, n in usage.items()}
    parsed = parse_usage("gemini", usage)
    assert parsed.input_tokens == prompt + tool_use
    assert parsed.cache_read_tokens == prompt // 2
    assert parsed.output_tokens == candidates + thoughts
    assert parsed.reasoning_tokens == thoughts
    assert parsed.total_tokens == prompt + candidates + thoughts + tool_use


@PROPERTY
@given(counts, counts, counts)
def test_xai_output_is_completion_plus_reasoning(
    prompt: int, completion: int, reasoning: int
) -> None:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    parsed = parse_usage("xai", usage)
    assert parsed.output_tokens == completion + reasoning
    assert parsed.total_tokens == usage["total_tokens"]


@PROPERTY
@given(
    st.sampled_from(
        [
            ("prompt_tokens",),
            ("completion_tokens",),
            ("prompt_tokens_details", "cached_tokens"),
            ("completion_tokens_details", "reasoning_tokens"),
        ]
    ),
    st.one_of(st.integers(max_value=-1), st.floats(allow_nan=False), st.text(), st.booleans()),
)
def test_any_bad_count_is_reported_at_its_path(path: tuple[str, ...], bad: object) -> None:
    usage: dict[str, Any] = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    target = usage
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(ProviderUsageError) as caught:
        parse_usage("openai", usage)
    where = "usage." + ".".join(path)
    assert str(caught.value) == f"openai: {where}: must be a whole number >= 0, got {bad!r}"
