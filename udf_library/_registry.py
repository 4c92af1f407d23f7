"""Finds every UDF of the installed library, so a node runs only code that ships with it."""

from __future__ import annotations

import importlib
import pkgutil

from udf_library._udf import UdfSpec

__all__ = ["discover_udfs"]


def discover_udfs(package: str = "udf_library") -> dict[str, UdfSpec]:
    """Import every ``*_udfs`` module of ``package`` and return its UDFs by name."""
    root = importlib.import_module(package)
    found: dict[str, UdfSpec] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.name.endswith("_udfs"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            spec = getattr(value, "__udf_spec__", None)
            if isinstance(spec, UdfSpec) and spec.func is value:
                if spec.name in found:
                    raise RuntimeError(f"two UDFs are named {spec.name!r}")
                found[spec.name] = spec
    return found
