"""Everything the installed packages import is a dependency of a plain ``pip install .`` (the Docker image),
or of an optional feature's extra (``pip install '.[frames]'``) that the code imports only when asked."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["mip_common", "mip_node", "mip_controller", "mip_gateway", "mip_client", "algorithm_flows", "udf_library"]


def imported_top_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, for every import in the shipped packages."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "_proto" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def declared_distributions() -> set[str]:
    """The core dependencies and those of the optional features (every extra but ``test``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [d for name, group in project["optional-dependencies"].items() if name != "test" for d in group]
    return {_normalized(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in [*project["dependencies"], *extras]}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency() -> None:
    # Arrange
    distributions = importlib.metadata.packages_distributions()
    declared = declared_distributions()
    ours = set(PACKAGES)

    # Act
    missing = {
        module: where
        for module, where in imported_top_modules().items()
        if module not in ours
        and module not in sys.stdlib_module_names
        and module != "__future__"
        and not any(_normalized(d) in declared for d in distributions.get(module, [module]))
    }

    # Assert
    assert not missing, f"imported but not in [project] dependencies of pyproject.toml: {missing}"
