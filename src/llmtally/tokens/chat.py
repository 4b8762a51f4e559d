"""Tokens a whole chat request costs, split by where they go.

:func:`count_messages` reads a request in one of three wire formats and splits
its prompt tokens into ``system``, ``tools`` (function schemas), ``history``
(every non-system turn except the last user turn), ``latest_user``, ``context``
(what tools returned: OpenAI ``tool``/``function`` messages, Anthropic
``tool_result`` blocks, Gemini ``functionResponse`` parts: retrieved documents,
search results, file contents) and ``overhead`` (the per-message framing and
reply priming nobody typed). The parts always add up to ``total``.

* ``openai``: Chat Completions ``messages``. Overhead per the OpenAI cookbook
  "How to count tokens with tiktoken"
  (https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken):
  3 tokens per message, +1 per ``name``, 3 to prime the reply; gpt-3.5-turbo-0301:
  4 per message, -1 per ``name``. Tool schemas by the cookbook's function formula.
  ``exact`` only when the tokenizer is exact, the model is one the cookbook
  verified (gpt-3.5-turbo, gpt-4, gpt-4o families) and the request uses nothing
  the cookbook does not count (content parts, ``tool_calls``, nested schemas).
* ``anthropic``: Messages API. No offline rule exists; the estimate is the content
  tokens plus, per message, the tokens of Claude's documented turn marker
  (``"\\n\\nHuman: "`` / ``"\\n\\nAssistant: "`` from the Text Completions prompt
  format) and ``"\\n\\nAssistant:"`` to prime the reply; tools as their JSON plus
  the documented tool-use system prompt. Always ``exact=False``.
* ``gemini``: ``contents`` with ``parts``. ``count_tokens`` adds nothing per turn
  and ``usage_metadata.prompt_token_count`` one token more (both examples in
  https://ai.google.dev/gemini-api/docs/tokens), so the overhead is 1 per request.
  Always ``exact=False``.

Images are counted with :func:`llmtally.tokens.images.image_tokens` when their
size is known (``width``/``height`` on the part, or read from a base64 header);
otherwise they count 0 and ``method`` says how many were left out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmtally.providers.errors import Family
from llmtally.tokens.base import Tokenizer
from llmtally.tokens.count_cache import cached_count
from llmtally.tokens.images import Detail, image_size, image_tokens

__all__ = ["MessageCount", "count_messages"]

_BUCKETS = ("system", "tools", "history", "latest_user", "context", "overhead")
COOKBOOK = "OpenAI cookbook 'How to count tokens with tiktoken'"
_DETAILS: dict[str, Detail] = {"low": "low", "high": "high"}


@dataclass(frozen=True, slots=True)
class MessageCount:
    """A request's prompt tokens; the six parts add up to ``total``."""

    total: int
    system: int
    tools: int
    history: int
    latest_user: int
    context: int
    overhead: int
    exact: bool
    method: str

    def as_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in ("total", *_BUCKETS, "exact", "method")}


@dataclass(slots=True)
class _Tally:
    tokenizer: Tokenizer
    model: str | None
    parts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_BUCKETS, 0))
    exact: bool = True
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def count(self, value: str) -> int:
        """``tokenizer.count(value)``, remembered: system prompts, tool schemas and
        earlier turns come again on every call (:mod:`llmtally.tokens.count_cache`)."""
        return cached_count(self.tokenizer, value)

    def text(self, bucket: str, value: str) -> None:
        self.parts[bucket] += self.count(value)

    def json(self, bucket: str, value: object) -> None:
        self.text(bucket, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def add(self, bucket: str, tokens: int) -> None:
        self.parts[bucket] += tokens

    def inexact(self, note: str) -> None:
        self.exact = False
        if note not in self.notes:
            self.notes.append(note)

    def image(self, bucket: str, size: tuple[int, int] | None, detail: str, where: str) -> None:
        if size is None or self.model is None:
            self.unknown.append(f"{where} (image, {'no model' if size else 'size unknown'})")
            return
        mode = _DETAILS.get(detail, "auto")
        try:
            counted = image_tokens(*size, model=self.model, detail=mode)
        except ValueError:
            self.unknown.append(f"{where} (image, no rule for {self.model})")
            return
        self.add(bucket, counted.count)
        if not counted.exact:
            self.inexact(f"images: {counted.formula} is an estimate")

    def result(self) -> MessageCount:
        if self.unknown:
            self.inexact(f"not counted: {', '.join(self.unknown)}")
        kind = "exact" if self.tokenizer.exact else "approx"
        method = "; ".join([f"tokenizer {self.tokenizer.name} ({kind})", *self.notes])
        p = self.parts
        return MessageCount(
            sum(p.values()), p["system"], p["tools"], p["history"], p["latest_user"],
            p["context"], p["overhead"], self.exact and self.tokenizer.exact, method,
        )  # fmt: skip


# --- shared validation -------------------------------------------------------


def _object(value: object, where: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the common case, without the Mapping ABC's check
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _string(holder: Mapping[str, Any], key: str, where: str) -> str:
    value = holder.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _last_user(messages: Sequence[Mapping[str, Any]], default_role: str | None = None) -> int:
    roles = [m.get("role", default_role) if isinstance(m, Mapping) else None for m in messages]
    return max((i for i, role in enumerate(roles) if role == "user"), default=-1)


def _bucket(role: str, index: int, last_user: int) -> str:
    if role in ("system", "developer"):
        return "system"
    if role in ("tool", "function"):
        return "context"
    return "latest_user" if index == last_user else "history"


def _size(part: Mapping[str, Any], data: object) -> tuple[int, int] | None:
    """The size the caller gave (``width``/``height``), else one read from base64 data."""
    width, height = part.get("width"), part.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    if not isinstance(data, str):
        return None
    head = data.split(",", 1)[1] if data.startswith("data:") else data
    head = re.sub(r"\s", "", head[:350_000])
    try:
        return image_size(base64.b64decode(head[: len(head) // 4 * 4]))
    except (binascii.Error, ValueError):
        return None


# --- OpenAI -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    per_message: int
    per_name: int
    func_init: int
    encoding: str | None  # the encoding the cookbook verified; None: rule assumed


@functools.lru_cache(maxsize=256)  # a gateway asks for the same few models
def _openai_rule(model: str | None) -> _Rule:
    name = (model or "").strip().lower().rsplit("/", 1)[-1]
    if name.startswith("gpt-3.5-turbo-0301"):
        return _Rule(4, -1, 10, "cl100k_base")
    if re.match(r"gpt-4o", name):
        return _Rule(3, 1, 7, "o200k_base")
    if re.match(r"gpt-3\.5-turbo|gpt-4(-|$)", name):
        return _Rule(3, 1, 10, "cl100k_base")
    return _Rule(3, 1, 7, None)


def _openai_part(part: object, tally: _Tally, bucket: str, where: str) -> None:
    part = _object(part, where)
    kind = _string(part, "type", where)
    if kind in ("text", "input_text", "output_text", "refusal"):
        tally.text(bucket, _string(part, "refusal" if kind == "refusal" else "text", where))
    elif kind in ("image_url", "input_image"):
        image = part.get("image_url")
        image = image if isinstance(image, Mapping) else {"url": image}
        detail = str(image.get("detail", part.get("detail", "auto")))
        size = _size(part, image.get("url")) or _size(image, None)
        tally.image(bucket, size, detail, where)
    elif kind in ("input_audio", "file", "input_file"):
        tally.unknown.append(f"{where} ({kind})")
    else:
        raise ValueError(f"{where}.type: unknown part type {kind!r}")


def _openai_message(message: object, tally: _Tally, rule: _Rule, bucket: str, where: str) -> None:
    message = _object(message, where)
    role = _string(message, "role", where)
    if "content" not in message and not {"tool_calls", "function_call"} & message.keys():
        raise ValueError(f"{where}.content: missing")
    tally.add("overhead", rule.per_message + tally.count(role))
    for key, value in message.items():
        if key == "role" or value is None:
            continue
        if key == "content" and isinstance(value, list):
            tally.inexact(f"content parts: not in the {COOKBOOK}")
            for j, part in enumerate(value):
                _openai_part(part, tally, bucket, f"{where}.content[{j}]")
        elif isinstance(value, str):
            tally.text(bucket, value)
            if key == "name":
                tally.add("overhead", rule.per_name)
        elif key == "content":
            raise ValueError(f"{where}.content: expected a string or a list of parts")
        else:
            tally.inexact(f"'{key}' counted as its JSON (not in the {COOKBOOK})")
            tally.json(bucket, value)


def _openai_tools(tools: Sequence[Any], tally: _Tally, rule: _Rule) -> None:
    """The cookbook's function formula: per function 7 (gpt-4o) or 10 (gpt-4,
    gpt-3.5-turbo) + "name:description"; 3 if it has properties, then per property
    3 + "name:type:description" and, with an enum, -3 + per item 3 + the item; 12
    once at the end. One trailing '.' of each description is dropped."""
    count = tally.count
    total = 12
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        tool = _object(tool, where)
        function = _object(tool.get("function", tool), where)
        name = _string(function, "name", where)
        description = str(function.get("description", "")).removesuffix(".")
        total += rule.func_init + count(f"{name}:{description}")
        parameters = _object(function.get("parameters", {}), f"{where}.parameters")
        properties = _object(parameters.get("properties", {}), f"{where}.parameters.properties")
        total += 3 if properties else 0
        for key, spec in properties.items():
            spec = _object(spec, f"{where}.parameters.properties.{key}")
            total += 3 + _openai_property(key, spec, tally)
    tally.add("tools", total)
    tally.notes.append(f"tools: function formula, {rule.func_init}/function ({COOKBOOK})")


def _openai_property(key: str, spec: Mapping[str, Any], tally: _Tally) -> int:
    count = tally.count
    kind = spec.get("type", "")
    tokens = count(f"{key}:{kind}:{str(spec.get('description', '')).removesuffix('.')}")
    if isinstance(spec.get("enum"), list):
        tokens += -3 + sum(3 + count(str(item)) for item in spec["enum"])
    rest = {k: v for k, v in spec.items() if k not in ("type", "description", "enum")}
    if rest or not isinstance(kind, str):
        tally.inexact(f"tool schema beyond the {COOKBOOK} formula: extra keys as JSON")
        tokens += count(json.dumps(rest, separators=(",", ":"))) if rest else 0
    return tokens


def _openai(messages: Sequence[Any], tally: _Tally, tools: list[Any] | None, system: Any) -> None:
    rule = _openai_rule(tally.model)
    if rule.encoding is None:
        tally.inexact(f"{tally.model or 'no model'}: cookbook rule assumed (3/message, +1/name)")
    elif rule.encoding not in tally.tokenizer.name:
        tally.inexact(f"the cookbook verified {tally.model} with {rule.encoding}")
    tally.notes.append(f"{rule.per_message}/message, {rule.per_name:+}/name, 3 reply ({COOKBOOK})")
    if system is not None:
        _openai_message({"role": "system", "content": system}, tally, rule, "system", "system")
    last = _last_user(messages)
    for i, message in enumerate(messages):
        role = _object(message, f"messages[{i}]").get("role", "")
        bucket = _bucket(str(role), i, last)
        _openai_message(message, tally, rule, bucket, f"messages[{i}]")
    tally.add("overhead", 3)
    if tools:
        _openai_tools(tools, tally, rule)


# --- Anthropic --------------------------------------------------------------

# Tool-use system prompt tokens with tool_choice auto/none, from the table in
# https://platform.claude.com/docs/en/agents-and-tools/tool-use/overview (2026);
# earlier versions of that table differ, so these stay estimates.
_TOOL_PROMPT = (
    (r"claude-opus-4-8", 290), (r"claude-opus-4-7", 675), (r"claude-(opus|sonnet)-4-6", 497),
    (r"claude-(opus|sonnet|haiku)-4-5", 496), (r"claude-(opus-4-1|opus-4|sonnet-4)(-\d{8})?$", 313),
    (r"claude-sonnet-5", 354), (r"claude-(3-5-haiku|haiku-3-5|3-haiku)", 264),
    (r"claude-3-5-sonnet-20240620", 294), (r"claude-3-opus", 530), (r"claude-3-sonnet", 159),
)  # fmt: skip


def _anthropic_block(block: object, tally: _Tally, bucket: str, where: str) -> None:
    block = _object(block, where)
    kind = _string(block, "type", where)
    if kind == "text":
        tally.text(bucket, _string(block, "text", where))
    elif kind == "thinking":
        tally.text(bucket, _string(block, "thinking", where))
    elif kind == "tool_use":
        tally.text(bucket, _string(block, "name", where))
        tally.json(bucket, block.get("input", {}))
    elif kind == "tool_result":  # what a tool returned: retrieved context
        content = block.get("content", "")
        if isinstance(content, str):
            tally.text("context", content)
        else:
            for j, inner in enumerate(_list(content, f"{where}.content")):
                _anthropic_block(inner, tally, "context", f"{where}.content[{j}]")
    elif kind == "image":
        source = _object(block.get("source", {}), f"{where}.source")
        tally.image(bucket, _size(block, source.get("data")), "auto", where)
    elif kind in ("document", "redacted_thinking"):
        tally.unknown.append(f"{where} ({kind})")
    else:
        raise ValueError(f"{where}.type: unknown part type {kind!r}")


def _anthropic_content(content: object, tally: _Tally, bucket: str, where: str) -> None:
    if isinstance(content, str):
        tally.text(bucket, content)
        return
    for j, block in enumerate(_list(content, where)):
        _anthropic_block(block, tally, bucket, f"{where}[{j}]")


def _anthropic(
    messages: Sequence[Any], tally: _Tally, tools: list[Any] | None, system: Any
) -> None:
    tally.inexact("Anthropic: content + turn markers of the Text Completions format (estimate)")
    if system is not None:
        _anthropic_content(system, tally, "system", "system")
    last = _last_user(messages)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = _object(message, where)
        role = _string(message, "role", where)
        if role not in ("user", "assistant"):
            raise ValueError(f"{where}.role: expected 'user' or 'assistant', got {role!r}")
        if "content" not in message:
            raise ValueError(f"{where}.content: missing")
        marker = "\n\nHuman: " if role == "user" else "\n\nAssistant: "
        tally.add("overhead", tally.count(marker))
        _anthropic_content(message["content"], tally, _bucket(role, i, last), f"{where}.content")
    tally.add("overhead", tally.count("\n\nAssistant:"))
    if tools:
        for i, tool in enumerate(tools):
            tally.json("tools", _object(tool, f"tools[{i}]"))
        name = (tally.model or "").lower()
        prompt = next((n for pattern, n in _TOOL_PROMPT if re.search(pattern, name)), 346)
        tally.add("tools", prompt)
        tally.notes.append(
            f"tools: JSON + {prompt}-token tool-use system prompt (tool_choice auto)"
        )


# --- Gemini -----------------------------------------------------------------


def _gemini_part(part: object, tally: _Tally, bucket: str, where: str) -> None:
    part = _object(part, where)
    if isinstance(part.get("text"), str):
        tally.text(bucket, part["text"])
    elif (call := part.get("functionCall", part.get("function_call"))) is not None:
        tally.json(bucket, call)
    elif (reply := part.get("functionResponse", part.get("function_response"))) is not None:
        tally.json("context", reply)  # what a tool returned: retrieved context
    elif (inline := part.get("inlineData", part.get("inline_data"))) is not None:
        inline = _object(inline, f"{where}.inlineData")
        mime = str(inline.get("mimeType", inline.get("mime_type", "")))
        if mime.startswith("image/"):
            tally.image(bucket, _size(part, inline.get("data")), "auto", where)
        else:
            tally.unknown.append(f"{where} ({mime or 'inline data'})")
    elif "fileData" in part or "file_data" in part:
        tally.unknown.append(f"{where} (file)")
    elif len(part) == 1 and next(iter(part)) in ("executableCode", "codeExecutionResult"):
        tally.json(bucket, part)
    else:
        raise ValueError(f"{where}: unknown part type {', '.join(map(repr, part)) or 'empty'}")


def _gemini(contents: Sequence[Any], tally: _Tally, tools: list[Any] | None, system: Any) -> None:
    tally.inexact("Gemini: content tokens + 1 per request (count_tokens vs usage, docs examples)")
    if isinstance(system, str):
        system = [{"text": system}]
    elif system is not None and not isinstance(system, list):
        system = _object(system, "system").get("parts", [])
    for j, part in enumerate(_list(system, "system.parts") if system is not None else ()):
        _gemini_part(part, tally, "system", f"system.parts[{j}]")
    last = _last_user(contents, default_role="user")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        content = _object(content, where)
        role = content.get("role", "user")  # optional in the API: "user" when unset
        if not isinstance(role, str):
            raise ValueError(f"{where}.role: expected a string, got {type(role).__name__}")
        if "parts" not in content:
            raise ValueError(f"{where}.parts: missing")
        for j, part in enumerate(_list(content["parts"], f"{where}.parts")):
            _gemini_part(part, tally, _bucket(role, i, last), f"{where}.parts[{j}]")
    tally.add("overhead", 1)
    for i, tool in enumerate(tools or ()):
        tally.json("tools", _object(tool, f"tools[{i}]"))


_Counter = Callable[[Sequence[Any], _Tally, list[Any] | None, Any], None]
_WIRES: dict[str, _Counter] = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}


def count_messages(
    messages: Sequence[Any],
    tokenizer: Tokenizer,
    *,
    wire: Family = "openai",
    model: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    system: str | list[Any] | Mapping[str, Any] | None = None,
) -> MessageCount:
    """Count the prompt tokens of one chat request, split by role (see the module
    docstring for each wire's rule). ``system`` is the top-level system prompt
    (Anthropic ``system``, Gemini ``systemInstruction``; for OpenAI a leading system
    message). Malformed input raises ``ValueError`` naming the index and field."""
    if wire not in _WIRES:
        raise ValueError(f"wire must be one of {', '.join(_WIRES)}, got {wire!r}")
    name = "contents" if wire == "gemini" else "messages"
    if not isinstance(messages, list):
        raise ValueError(f"{name}: expected a list, got {type(messages).__name__}")
    if tools is not None and not isinstance(tools, list):
        raise ValueError(f"tools: expected a list, got {type(tools).__name__}")
    tally = _Tally(tokenizer, model)
    _WIRES[wire](messages, tally, tools, system)
    return tally.result()
