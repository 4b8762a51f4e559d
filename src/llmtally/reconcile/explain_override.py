"""A price drift as a dated catalog entry, and writing it to the override file.

The override file's models replace the same model of the built-in catalog
whole (its layer wins the name match), so the proposal is the model's full
history plus the new dated entry: the days before the drift keep their price.
The new entry copies the entry in force (tiers, cliffs, cache rates) with the
billed rates; a tier's own rates and the long-context rates scale with the
standard rate of the same name, and rates the bill did not show stay as they
were (with one billed total, every token rate scales by the common factor).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from llmtally.catalog.catalog import Catalog
from llmtally.catalog.loader import CatalogFileError, load_yaml
from llmtally.catalog.overrides import read_override_file
from llmtally.catalog.schema import ModelSpec, PriceSpec
from llmtally.meter import decimal_text
from llmtally.reconcile.explain_types import Explanation

__all__ = ["ProposedEntry", "propose_entry", "write_proposal"]

_TIERS = ("batch", "flex", "priority")


@dataclass(frozen=True, slots=True)
class ProposedEntry:
    """``entry``: the new dated price; ``model``: the model with its whole history
    and the new entry, as the override file holds it."""

    provider: str
    model_id: str
    entry: PriceSpec
    model: ModelSpec
    pricing_url: str

    def yaml_text(self) -> str:
        """The entry as it would read in the override file."""
        return yaml.safe_dump([_dump(self.entry)], sort_keys=False)


def _dump(spec: PriceSpec | ModelSpec) -> dict[str, Any]:
    data: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return data


def _scale(block: dict[str, Any], factors: dict[str, Decimal]) -> None:
    for name, factor in factors.items():
        if name in block:
            block[name] = decimal_text(Decimal(block[name]) * factor)


def _new_entry(base: PriceSpec, drift: Explanation) -> PriceSpec:
    rates = drift.drift
    assert rates is not None
    data = _dump(base)
    data.pop("checked", None)
    factors = {n: rates.billed[n] / rates.catalog[n] for n in rates.billed if rates.catalog[n]}
    if not rates.per_kind_lines:
        names = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
        factors = {n: rates.scale for n in names}
    unset = [name for name in rates.billed if name not in data]
    # Scaling the entry's own (list) rates by billed / catalog keeps a negotiated
    # discount of the override file out of the proposal: it applies on top again.
    _scale(data, factors)
    for name in unset:  # priced by fallback until now (cache read at the input rate)
        data[name] = decimal_text(rates.billed[name])
    for tier in _TIERS:
        if isinstance(data.get(tier), dict):
            _scale(data[tier], factors)
            for cliff in data[tier].get("long_context", []):
                _scale(cliff, factors)
    for cliff in data.get("long_context", []):
        _scale(cliff, factors)
    days = drift.days
    how = "per-kind cost lines" if rates.per_kind_lines else "catalog ratios between kinds assumed"
    head = {
        "effective": rates.effective.isoformat(),
        "source": f"llmtally reconcile: the {drift.provider} cost report",
        "note": (
            f"rate the bill implies on {len(days)} day(s), {days[0].isoformat()} to "
            f"{days[-1].isoformat()} ({how})"
        ),
    }
    data = {**head, **{k: v for k, v in data.items() if k not in head}}
    return PriceSpec.model_validate(data)


def propose_entry(drift: Explanation, catalog: Catalog) -> ProposedEntry:
    """The dated catalog entry a ``price_drift`` explanation implies."""
    if drift.drift is None:
        raise ValueError(f"not a price drift: {drift.kind}")
    ref = catalog.lookup(drift.provider, drift.model)
    when = drift.drift.effective
    history = list(ref.spec.prices)
    if any(p.effective == when for p in history):
        raise ValueError(f"{ref.provider}/{ref.spec.id} already has a price from {when}")
    in_force = [p for p in history if (p.effective or dt.date.min) <= when]
    if not in_force:
        raise ValueError(f"{ref.provider}/{ref.spec.id} had no price on {when}")
    entry = _new_entry(in_force[-1], drift)
    prices = sorted([*history, entry], key=lambda p: p.effective or dt.date.min)
    model = ref.spec.model_copy(update={"prices": prices})
    url = catalog.pricing_url(ref.provider) or entry.source
    return ProposedEntry(
        ref.provider, ref.spec.id, entry, ModelSpec.model_validate(_dump(model)), url
    )


def _merge(data: dict[str, Any], proposal: ProposedEntry) -> None:
    """Add the proposal to the parsed file: to the model if the file has it, else the model
    to its provider, else the provider."""
    providers = data.setdefault("providers", [])
    if not isinstance(providers, list):
        raise CatalogFileError("the override file's 'providers' is not a list")
    for pf in providers:
        if pf.get("provider") != proposal.provider:
            continue
        for model in pf.setdefault("models", []):
            if model.get("id") == proposal.model_id:
                dates = {str(p.get("effective")) for p in model.get("prices", [])}
                if proposal.entry.effective and proposal.entry.effective.isoformat() in dates:
                    raise ValueError(
                        f"{proposal.provider}/{proposal.model_id} already has a price from "
                        f"{proposal.entry.effective} in the override file"
                    )
                model["prices"].append(_dump(proposal.entry))
                model["prices"].sort(key=lambda p: str(p.get("effective") or ""))
                return
        pf["models"].append(_dump(proposal.model))
        return
    providers.append(
        {
            "provider": proposal.provider,
            "name": proposal.provider,
            "pricing_url": proposal.pricing_url,
            "models": [_dump(proposal.model)],
        }
    )


def write_proposal(path: Path, proposal: ProposedEntry) -> None:
    """Add ``proposal`` to the override file at ``path`` (created if absent).

    Every entry already there is kept; a file that does not parse as an override
    file is refused (:class:`CatalogFileError`) and left as it was. The file is
    re-written whole (its comments are not kept): the previous bytes go to
    ``<path>.bak``, and the new text is checked with the catalog's own loader
    before it replaces the old one."""
    data: dict[str, Any] = {}
    previous = b""
    if path.exists():
        _, previous = read_override_file(path)
        loaded = load_yaml(previous.decode("utf-8"), str(path))
        data = loaded if isinstance(loaded, dict) else {}
    _merge(data, proposal)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    temp = path.with_name(f".{path.name}.new")
    temp.write_text(text, encoding="utf-8")
    try:
        read_override_file(temp)
    except CatalogFileError:
        temp.unlink()
        raise
    if previous:
        path.with_name(f"{path.name}.bak").write_bytes(previous)
    os.replace(temp, path)
