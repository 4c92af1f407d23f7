"""Finds the flows: each ``<algo>_flow.py`` module holds one ``AlgorithmFlow`` subclass."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from algorithm_flows.runtime import AlgorithmFlow

__all__ = ["discover_flows"]


def discover_flows(package: str = "algorithm_flows") -> dict[str, type[AlgorithmFlow[Any]]]:
    """Every flow of ``package``, by algorithm name."""
    root = importlib.import_module(package)
    flows: dict[str, type[AlgorithmFlow[Any]]] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.name.endswith("_flow"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, AlgorithmFlow)
                and value.__module__ == module.__name__
                and not inspect.isabstract(value)
            ):
                if value.name in flows:
                    raise RuntimeError(f"two flows are named {value.name!r}")
                flows[value.name] = value
    return flows
