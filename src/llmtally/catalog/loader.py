"""Reading price files, with errors that name the file, the line and the field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llmtally.catalog.schema import ProviderFile

__all__ = [
    "CatalogFileError",
    "line_of",
    "load_yaml",
    "parse_provider_file",
    "read_provider_file",
    "validate",
    "version_of",
]

M = TypeVar("M", bound=BaseModel)

try:  # libyaml is several times faster; PyYAML's pure-Python loader is the fallback.
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


class CatalogFileError(ValueError):
    """A price file that cannot be used, with where and why."""


def load_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogFileError(f"{where}: not valid YAML: {problem}") from exc


def _node_at(node: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest YAML node along a pydantic error location."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == key]
            if not match:
                # An extra (forbidden) field: point at its key.
                keys = [k for k, _ in node.value if k.value == key]
                return keys[0] if keys else node
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return node
            node = node.value[key]
        else:
            return node
    return node


def line_of(text: str, loc: Sequence[int | str]) -> int:
    """The line (from 1) of the YAML node at ``loc`` in ``text`` (0: not YAML)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 0
    return 0 if root is None else _node_at(root, loc).start_mark.line + 1


def _describe(errors: Iterable[Any], text: str, origin: str) -> str:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # pragma: no cover - already parsed once
        root = None
    lines = []
    for err in errors:
        loc = tuple(err["loc"])
        line = _node_at(root, loc).start_mark.line + 1 if root is not None else 0
        field = ".".join(str(part) for part in loc) or "(file)"
        lines.append(f"{origin}:{line}: {field}: {err['msg']}")
    return "\n".join(lines)


def load_json(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            f"{origin}:{exc.lineno}: not valid JSON at column {exc.colno}: {exc.msg}"
        ) from None


def parse_provider_file(text: str, origin: str) -> ProviderFile:
    data = load_json(text, origin) if origin.endswith(".json") else load_yaml(text, origin)
    if not isinstance(data, dict):
        raise CatalogFileError(
            f"{origin}:1: a price file is a mapping with 'provider' and 'models'"
        )
    return validate(ProviderFile, data, text, origin)


def validate(schema: type[M], data: Any, text: str, origin: str) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise CatalogFileError(_describe(exc.errors(), text, origin)) from None


def read_provider_file(path: Path) -> tuple[ProviderFile, bytes]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return parse_provider_file(text, str(path)), raw


def version_of(contents: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in contents:
        digest.update(hashlib.sha256(chunk).digest())
    return digest.hexdigest()[:12]
