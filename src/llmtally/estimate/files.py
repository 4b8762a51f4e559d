"""Reading a workload file, with errors that name the file, the line and the field.

``read_workload(path)`` parses YAML, validates it against
:class:`~llmtally.estimate.workload.Workload` and reads the text files that
prompt parts name (``file:``, relative to the workload file). Every problem is
a :class:`WorkloadError` reading ``FILE:LINE: field.path: reason``; problems
found later (an unknown model) use :meth:`WorkloadFile.where` for the same form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.estimate.workload import CallSpec, TextPart, Workload

__all__ = ["WorkloadError", "WorkloadFile", "parse_workload", "read_workload"]

_PARTS = ("system_prompt", "user_input", "context")
C = TypeVar("C", bound=CallSpec)


class WorkloadError(ValueError):
    """A workload that cannot be estimated, with where and why."""


@dataclass(frozen=True, slots=True)
class WorkloadFile:
    """A validated workload and where it came from (for error messages)."""

    workload: Workload
    origin: str = "<workload>"
    text: str = ""

    def where(self, path: Sequence[str | int]) -> str:
        """``FILE:LINE: field.path`` for a field of this workload."""
        field = ".".join(str(part) for part in path) or "(file)"
        line = _line_of(self.text, path)
        return f"{self.origin}:{line}: {field}" if line else f"{self.origin}: {field}"


def _line_of(text: str, path: Sequence[str | int]) -> int | None:
    """The line of the YAML node at ``path`` (or the nearest node above it)."""
    if not text:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if k.value == key]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return None if node is None else int(node.start_mark.line) + 1


def parse_workload(text: str, origin: str = "<workload>", base: Path | None = None) -> WorkloadFile:
    """Validate workload YAML; ``base`` is the folder ``file:`` parts are read from."""
    try:
        data: Any = load_yaml(text, origin)
    except CatalogFileError as exc:
        raise WorkloadError(str(exc)) from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{origin}:1: a workload file is a mapping with at least 'requests'")
    try:
        workload = validate(Workload, data, text, origin)
    except CatalogFileError as exc:
        raise WorkloadError(str(exc)) from None
    loaded = WorkloadFile(workload, origin, text)
    return WorkloadFile(_read_parts(loaded, base or Path.cwd()), origin, text)


def read_workload(path: Path) -> WorkloadFile:
    """Read and validate the workload file at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read the workload file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_workload(text, str(path), path.parent)


def _read_parts(loaded: WorkloadFile, base: Path) -> Workload:
    """The workload with every ``file:`` part replaced by the file's text."""
    workload = loaded.workload
    request = _read_call(loaded, workload.request, ["request"], base)
    background = [
        _read_call(loaded, spec, ["background", index], base)
        for index, spec in enumerate(workload.background)
    ]
    return workload.model_copy(update={"request": request, "background": background})


def _read_call(loaded: WorkloadFile, call: C, path: list[str | int], base: Path) -> C:
    changes: dict[str, TextPart] = {}
    for name in _PARTS:
        part: TextPart | None = getattr(call, name)
        if part is None or part.file is None:
            continue
        where = loaded.where([*path, name, "file"])
        target = base / part.file
        try:
            text = target.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkloadError(f"{where}: cannot read {target}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise WorkloadError(f"{where}: {target} is not UTF-8 text (byte {exc.start})") from None
        changes[name] = part.model_copy(update={"file": None, "text": text})
    return call.model_copy(update=changes) if changes else call
