"""Each flow module holds one algorithm: what flows share lives in ``algorithm_flows/_helpers.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import algorithm_flows
import udf_library

_FLOWS = sorted(Path(algorithm_flows.__file__).parent.glob("*_flow.py"))


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_flow_imports_another_flow() -> None:
    assert _FLOWS
    offenders = {
        path.name: sorted(
            m for m in _imported_modules(path) if m.startswith("algorithm_flows.") and m.endswith("_flow")
        )
        for path in _FLOWS
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_no_udf_is_defined_twice() -> None:
    """Two UDF modules with the same function body would drift apart; share one module instead."""
    bodies: dict[str, str] = {}
    twice = []
    for path in sorted(Path(udf_library.__file__).parent.glob("*_udfs.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                body = ast.dump(ast.Module(body=node.body, type_ignores=[]))
                if body in bodies:
                    twice.append(f"{path.stem}.{node.name} = {bodies[body]}")
                bodies.setdefault(body, f"{path.stem}.{node.name}")
    assert twice == []
