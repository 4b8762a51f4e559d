"""Reading a CLI table as a person at an 80-column terminal would (the caller sets
``COLUMNS``): the command's output, checked that nothing is cut or too wide, and
one row's cells. Shared by test_narrow_tables and test_prices_currency."""

from __future__ import annotations

from typer.testing import CliRunner

from llmtally.cli import app

__all__ = ["readable", "row_of", "stdout_of"]


def stdout_of(*args: str) -> str:
    """``llmtally <args>``'s output (it must succeed)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def readable(out: str) -> list[str]:
    """The lines of ``out``: nothing cut, none over 80 characters."""
    lines = out.splitlines()
    assert "…" not in out, out  # nothing cut
    assert all(len(line) <= 80 for line in lines), out
    return lines


def row_of(lines: list[str], name: str) -> list[str]:
    """The cells of the first line that holds ``name`` as a whole word."""
    return next(line.split() for line in lines if name in line.split())
