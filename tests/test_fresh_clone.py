"""A fresh clone needs nothing beside it: the reference price files ship inside the
repository, nothing reads a folder next to it, ``make test`` installs the browser,
the browser tests write their screenshots outside the tracked tree, and the
benchmark's pins agree with llmtally's own dependencies."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from browser_support import (  # noqa: F401 (screenshots: a fixture)
    SCREENSHOTS_ENV,
    screenshot_folder,
    screenshots,
)

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO / "tests" / "fixtures" / "reference"
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \|.*\| `(?P<sha>[0-9a-f]{64})` \|$", re.MULTILINE)


def test_the_reference_files_ship_as_their_sources_list_them() -> None:
    rows = ROW.findall((REFERENCE_DIR / "SOURCES.md").read_text())
    assert sorted(name for name, _ in rows) == [
        "genai-prices_data.json",
        "litellm_model_prices_and_context_window.json",
    ]
    for name, sha in rows:
        assert hashlib.sha256((REFERENCE_DIR / name).read_bytes()).hexdigest() == sha, name


def test_nothing_reads_a_folder_beside_the_clone() -> None:
    beside = re.compile(r"\.\./shared|parents\[2\] / \"shared\"|ROOT\.parent / \"shared\"")
    places = [REPO / "Makefile", REPO / ".ci" / "run", REPO / "README.md"]
    for folder in ("src", "tests", "scripts", "benchmarks"):
        places += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".md", ".txt")]
    hits = [
        str(p.relative_to(REPO))
        for p in places
        if p != Path(__file__).resolve() and beside.search(p.read_text(errors="replace"))
    ]
    assert hits == []


def test_make_test_installs_the_browser_in_one_place() -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "unit"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "bash scripts/ensure_chromium.sh" in dry.stdout.splitlines()
    assert "apt-get" not in (REPO / ".ci" / "run").read_text()  # .ci/run runs make test


def test_screenshots_go_outside_the_tracked_tree_unless_asked(tmp_path: Path) -> None:
    assert screenshot_folder({}, tmp_path) == tmp_path
    asked = screenshot_folder({SCREENSHOTS_ENV: "docs/screenshots"}, tmp_path)
    assert asked == REPO / "docs" / "screenshots"


def test_this_runs_screenshots_folder(screenshots: Path) -> None:  # noqa: F811
    chosen = os.environ.get(SCREENSHOTS_ENV)
    if chosen:  # make screenshots
        assert screenshots == REPO / chosen
    else:
        assert not screenshots.resolve().is_relative_to(REPO)


def _pins() -> dict[str, Version]:
    lines = (REPO / "benchmarks" / "requirements.txt").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    return {
        canonicalize_name(r.name): Version(next(iter(r.specifier)).version)
        for r in requirements
        if len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
    }


def _closure(root: str, pins: dict[str, Version]) -> dict[str, list[tuple[str, Requirement]]]:
    """What each package of ``root``'s dependency tree asks of each name, read from
    the installed metadata of the packages installed at their pinned version (or
    not pinned): a package pinned at another version asks what we cannot see here."""
    asked: dict[str, list[tuple[str, Requirement]]] = {}
    todo, seen = [(root, frozenset[str]())], set[str]()
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            installed = distribution(name)
        except PackageNotFoundError:
            continue
        if pins.get(name, Version(installed.version)) != Version(installed.version):
            continue
        requires = installed.requires or []
        for line in requires:
            req = Requirement(line)
            wanted = extras or frozenset({""})
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in wanted):
                continue
            key = canonicalize_name(req.name)
            asked.setdefault(key, []).append((name, req))
            todo.append((key, frozenset(req.extras)))
    return asked


def test_the_benchmark_pins_satisfy_llmtallys_own_dependencies() -> None:
    pins = _pins()
    asked = _closure("llmtally", pins)
    assert "numpy" in asked  # through mistral-common
    clashes = [
        f"{name}=={version} vs {who}: {req}"
        for name, version in pins.items()
        for who, req in asked.get(name, [])
        if not req.specifier.contains(version, prereleases=True)
    ]
    assert clashes == []
