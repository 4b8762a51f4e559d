"""Price files as YAML: money as quoted strings, defaults left out, round-trippable."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from llmtally.catalog.catalog import imports_dir
from llmtally.catalog.importers.common import ImportFormat, ImportResult
from llmtally.catalog.schema import ProviderFile

__all__ = ["dump_provider_file", "write_atomically", "write_imported"]


# Keys that say what an entry is come before its numbers.
_FIRST = (
    "provider",
    "id",
    "name",
    "effective",
    "source",
    "checked",
    "note",
    "above",
    "start",
    "end",
)


def _plain_data(value: Any) -> Any:
    """Decimals -> strings (YAML would make floats of them); times -> ``HH:MM:SS``."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + [k for k in value if k not in _FIRST]
        return {k: _plain_data(value[k]) for k in keys}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


class _Dumper(yaml.SafeDumper):
    """Block style, with list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a shared date written twice, never as ``&id001``/``*id001``


def dump_provider_file(pf: ProviderFile, header: str) -> str:
    """The YAML text of a price file, after ``header`` (each line made a comment)."""
    data = pf.model_dump(mode="python", exclude_none=True, exclude_defaults=True)
    data = {"provider": pf.provider, "name": pf.name, "pricing_url": pf.pricing_url, **data}
    body = yaml.dump(
        _plain_data(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + body


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a price file is not secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_imported(result: ImportResult, home: Path, fmt: ImportFormat) -> list[Path]:
    """One ``<fmt>-<provider>.yaml`` per provider under the imports folder of ``home``."""
    folder = imports_dir(home)
    written = []
    for pf in result.files:
        path = folder / f"{fmt}-{pf.provider}.yaml"
        header = (
            f"Imported by `llmtally prices import --format {fmt}` from "
            f"{result.source_name or 'a ' + fmt + ' file'}.\n"
            "Re-import to refresh; hand edits are lost on the next import."
        )
        write_atomically(path, dump_provider_file(pf, header))
        written.append(path)
    return written
