"""Every public name a package lists in __all__ exists and is defined in llmtally."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import llmtally

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(llmtally.__path__, prefix="llmtally.")
    if not info.name.startswith("llmtally.cli")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_come_from_llmtally(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for member in exported:
        value = getattr(module, member)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("llmtally"), (name, member, value.__module__)


def test_the_top_level_api() -> None:
    assert set(llmtally.__all__) >= {"Usage", "Cost", "cost", "PricingError", "UsageError"}
