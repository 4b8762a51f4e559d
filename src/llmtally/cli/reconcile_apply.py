"""``llmtally reconcile [--apply]``: the dated catalog entry each price drift implies.

Without ``--apply`` each proposal is printed as it would read in the override
file, for review; with it, each is written to the override file
(:func:`llmtally.config.override_file`, through
:func:`llmtally.reconcile.explain_price.write_proposal`, which keeps every entry
already there and the previous file as ``<file>.bak``) and what was written is
said. The calls already in the ledger keep the cost they were recorded at: the
entry prices the calls recorded from now on, and a ledger recorded with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llmtally.catalog import Catalog
    from llmtally.reconcile.compare import Reconciliation
    from llmtally.reconcile.explain_price import ProposedEntry

__all__ = ["Proposal", "apply_proposals", "proposals", "render_proposals"]


@dataclass(frozen=True)
class Proposal:
    """A drift's proposed entry, or why there is none (``refused``), and where it
    was written (``written``, with ``--apply``)."""

    provider: str
    model: str
    entry: ProposedEntry | None
    refused: str | None = None
    written: Path | None = None

    def to_json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "provider": self.provider,
            "model": self.model,
            "effective": None if entry is None else str(entry.entry.effective),
            "yaml": None if entry is None else entry.yaml_text(),
            "refused": self.refused,
            "written_to": None if self.written is None else str(self.written),
        }


def proposals(result: Reconciliation, catalog: Catalog) -> list[Proposal]:
    """One proposal per price drift found in ``result``."""
    from llmtally.reconcile.explain_price import propose_entry
    from llmtally.reconcile.price_link import drifts

    found = []
    for drift in drifts(result.explanations):
        try:
            entry = propose_entry(drift, catalog)
        except (LookupError, ValueError) as exc:
            found.append(Proposal(drift.provider, drift.model, None, str(exc)))
            continue
        found.append(Proposal(drift.provider, drift.model, entry))
    return found


def apply_proposals(found: list[Proposal], path: Path) -> list[Proposal]:
    """Each proposal written to the override file at ``path``; one the file
    refuses (a bad file, an entry of that date already there) says why."""
    from dataclasses import replace

    from llmtally.catalog import CatalogFileError
    from llmtally.reconcile.explain_price import write_proposal

    done = []
    for proposal in found:
        if proposal.entry is None:
            done.append(proposal)
            continue
        try:
            write_proposal(path, proposal.entry)
        except (CatalogFileError, ValueError, OSError) as exc:
            done.append(replace(proposal, refused=f"not written to {path}: {exc}"))
            continue
        done.append(replace(proposal, written=path))
    return done


def render_proposals(out: Console, found: list[Proposal], path: Path, applied: bool) -> None:
    """What each drift proposes, and what ``--apply`` did or would do."""
    for p in found:
        name = f"{p.provider}/{p.model}"
        if p.entry is None or (applied and p.written is None):
            out.print(
                f"price drift {name}: no catalog entry written: {p.refused}",
                markup=False,
                soft_wrap=True,
            )
            continue
        when = p.entry.entry.effective
        if p.written is not None:
            out.print(f"wrote {name} from {when} to {p.written}", markup=False, soft_wrap=True)
        else:
            out.print(
                f"proposed catalog entry for {name} from {when}:", markup=False, soft_wrap=True
            )
        for line in p.entry.yaml_text().splitlines():
            out.print(f"  {line}", markup=False, soft_wrap=True)
        if p.written is None:
            out.print(
                f"(review it; `llmtally reconcile --apply` writes it to {path})", markup=False
            )
