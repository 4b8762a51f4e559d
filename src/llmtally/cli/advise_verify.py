"""``llmtally advise verify FEATURE --models m1,m2``: evidence for right-sizing a
feature's model, by replaying a sample of its recorded prompts through cheaper
candidates in the lab (issue 15). Being built: the command is registered on
``advise_app`` so that ``advise`` is a group with subcommands."""

from __future__ import annotations

import typer

from llmtally.cli.advise_cmd import advise_app
from llmtally.cli.common import fail

__all__ = ["verify"]


@advise_app.command("verify")
def verify(
    feature: str = typer.Argument(..., help="The feature whose recorded prompts are replayed."),
    models: str = typer.Option(..., "--models", help="Candidate models, comma-separated."),
) -> None:
    """Replay a sample of FEATURE's recorded prompts through cheaper models."""
    fail("advise verify: not available yet", 1)
