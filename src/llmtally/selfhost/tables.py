"""The instance catalog and the open-model table: loaded from the package's data
files (or a file given), checked, and looked up by name with near names on a miss.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from llmtally.catalog.loader import CatalogFileError, load_yaml, validate
from llmtally.selfhost.schema import InstanceFile, InstanceSpec, ModelFile, ModelSpec

if TYPE_CHECKING:
    from llmtally.catalog import Catalog

__all__ = [
    "DATA_DIR",
    "DataFileError",
    "InstanceCatalog",
    "ModelTable",
    "SelfHostError",
    "UnknownNameError",
    "load_instances",
    "load_models",
]

DATA_DIR = Path(__file__).parent / "data"

M = TypeVar("M", bound=BaseModel)


class SelfHostError(ValueError):
    """A self-hosting question that cannot be answered, with the reason."""


class DataFileError(SelfHostError):
    """A data file that cannot be used: names the file, the field path and why."""


class UnknownNameError(SelfHostError, LookupError):
    """An unknown model or instance; the message lists the nearest known names."""

    def __init__(self, kind: str, name: str, near: Sequence[str]) -> None:
        hint = f"; nearest known: {', '.join(near)}" if near else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")
        self.kind, self.name, self.near = kind, name, list(near)


def _near(name: str, pool: Iterable[str], n: int = 5) -> list[str]:
    by_lower = {p.lower(): p for p in pool}
    key = name.lower()
    hits = difflib.get_close_matches(key, sorted(by_lower), n=n, cutoff=0.5)
    hits += [p for p in sorted(by_lower) if key in p and p not in hits]
    return [by_lower[h] for h in hits[:n]]


def _read(path: Path, schema: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot be read ({exc})") from None
    try:
        data: Any = load_yaml(text, str(path))
        if not isinstance(data, dict):
            raise DataFileError(f"{path}:1: (file): expected a mapping at the top level")
        return validate(schema, data, text, str(path))
    except CatalogFileError as exc:
        raise DataFileError(str(exc)) from None


def _check_instances(spec: InstanceFile, origin: str) -> None:
    """Cross-field checks the schema cannot express, named by field path."""
    seen: set[str] = set()
    problems = []
    for i, inst in enumerate(spec.instances):
        where = f"{origin}: instances.{i}"
        gpu = spec.gpus.get(inst.gpu)
        if gpu is None:
            known = ", ".join(sorted(spec.gpus))
            problems.append(f"{where}.gpu: {inst.gpu!r} is not in the gpus table ({known})")
        else:
            same = (("gpu_memory_gb", "memory_gb"), ("memory_bandwidth_gbps",) * 2)
            for field, gpu_field in same:
                mine, theirs = getattr(inst, field), getattr(gpu, gpu_field)
                if mine != theirs:
                    problems.append(
                        f"{where}.{field}: {mine} disagrees with gpus.{inst.gpu}.{gpu_field} "
                        f"{theirs}"
                    )
        if inst.name.lower() in seen:
            problems.append(f"{where}.name: {inst.name!r} is listed twice")
        seen.add(inst.name.lower())
    if problems:
        raise DataFileError("\n".join(problems))


@dataclass(frozen=True)
class InstanceCatalog:
    """GPU instance types with their on-demand prices."""

    spec: InstanceFile
    origin: str

    @property
    def instances(self) -> list[InstanceSpec]:
        return list(self.spec.instances)

    def find(self, name: str) -> InstanceSpec:
        for inst in self.spec.instances:
            if inst.name.lower() == name.lower():
                return inst
        raise UnknownNameError("instance", name, _near(name, (i.name for i in self.instances)))

    def select(self, cloud: str | None = None, gpu: str | None = None) -> list[InstanceSpec]:
        """Instances on ``cloud`` whose GPU name contains ``gpu`` (case-insensitive)."""
        clouds = {i.cloud for i in self.spec.instances}
        if cloud is not None and cloud.lower() not in clouds:
            raise UnknownNameError("cloud", cloud, sorted(clouds))
        rows = [
            i
            for i in self.spec.instances
            if (cloud is None or i.cloud == cloud.lower())
            and (gpu is None or gpu.lower() in i.gpu.lower())
        ]
        if gpu is not None and not rows:
            raise UnknownNameError("GPU", gpu, sorted({i.gpu for i in self.spec.instances}))
        return rows

    def tflops(self, inst: InstanceSpec) -> Decimal:
        """Dense FP16 tensor TFLOPS of one of the instance's GPUs."""
        return self.spec.gpus[inst.gpu].dense_fp16_tflops


@dataclass(frozen=True)
class ModelTable:
    """Open models by id or alias."""

    spec: ModelFile
    origin: str

    @property
    def models(self) -> list[ModelSpec]:
        return list(self.spec.models)

    def find(self, name: str, catalog: Catalog | None = None) -> ModelSpec:
        """By id or alias (any case); else, given the price catalog, by the
        catalog's matching, so that every command takes the same model names
        (``local/llama-3.1-70b-instruct``, ``groq/llama-3.3-70b-versatile``, a
        dated snapshot): the entry it finds is looked up here by its id and aliases."""
        hit = self._named(name)
        if hit is None and catalog is not None:
            hit = self._via_catalog(name, catalog)
        if hit is None:
            pool = [m.id for m in self.spec.models]
            raise UnknownNameError("model", name, _near(name, pool))
        return hit

    def _named(self, name: str) -> ModelSpec | None:
        key = name.strip().lower()
        for model in self.spec.models:
            if key == model.id.lower() or key in (a.lower() for a in model.aliases):
                return model
        return None

    def _via_catalog(self, name: str, catalog: Catalog) -> ModelSpec | None:
        try:
            ref = catalog.lookup(None, name)
        except LookupError:
            return None
        for known in (ref.spec.id, *ref.spec.aliases):
            hit = self._named(known)
            if hit is not None:
                return hit
        return None


def load_instances(path: Path | None = None) -> InstanceCatalog:
    """The instance catalog (the package's ``data/instances.yaml`` by default)."""
    path = path or DATA_DIR / "instances.yaml"
    spec = _read(path, InstanceFile)
    _check_instances(spec, str(path))
    return InstanceCatalog(spec, str(path))


def load_models(path: Path | None = None) -> ModelTable:
    """The open-model table (the package's ``data/models.yaml`` by default)."""
    path = path or DATA_DIR / "models.yaml"
    spec = _read(path, ModelFile)
    seen: set[str] = set()
    for i, model in enumerate(spec.models):
        for name in (model.id, *model.aliases):
            if name.lower() in seen:
                raise DataFileError(f"{path}: models.{i}: the name {name!r} is used twice")
            seen.add(name.lower())
    return ModelTable(spec, str(path))
