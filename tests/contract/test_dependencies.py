"""Each role installs what its code imports: the core dependencies plus the role's extra
(``pip install '.[node]'`` for a hospital, ``'.[client]'`` for a researcher), and optional features
(``plots``, ``frames``) are extras that the code imports only when asked."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["mip_common", "mip_node", "mip_controller", "mip_gateway", "mip_client", "algorithm_flows", "udf_library"]
ROLE_EXTRAS = {
    "mip_node": ["node"],
    "mip_controller": ["controller"],
    "mip_gateway": ["gateway"],
    "mip_client": ["client"],
}
LOADED_BY_NAME = {"mip_node": ["udf_library"], "mip_controller": ["algorithm_flows", "udf_library"]}
"""Packages a role imports by module name at run time (UDF modules, flows), beyond its import statements."""
SERVER_EXTRAS = ["node", "controller", "gateway"]
CLIENT_ONLY = {"matplotlib", "pyyaml"}
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the shipped packages but the generated code."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "_proto" not in path.parts:
                parts = path.relative_to(ROOT).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> tuple[list[str], list[str]]:
    """The modules ``path`` imports when loaded, and those it imports only inside functions."""
    eager: list[str] = []
    lazy: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                (lazy if in_function else eager).extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module, *(f"{child.module}.{alias.name}" for alias in child.names)]
                (lazy if in_function else eager).extend(names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text(), str(path)), False)
    return eager, lazy


def _third_party(module: str) -> bool:
    return module.split(".")[0] not in {*PACKAGES, *sys.stdlib_module_names, "__future__"}


def imported_top_modules() -> dict[str, str]:
    """Top-level third-party module -> a file importing it, for every import in the shipped packages."""
    found: dict[str, str] = {}
    for path in MODULES.values():
        eager, lazy = _imports(path)
        for name in [*eager, *lazy]:
            if _third_party(name):
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def loaded_top_modules(package: str) -> dict[str, str]:
    """Top-level third-party module -> a module importing it, over what loading ``package`` loads."""
    start = [package, *LOADED_BY_NAME.get(package, [])]
    todo = [m for m in MODULES if m.split(".")[0] in start]
    seen: set[str] = set()
    found: dict[str, str] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages load first
        for name in _imports(MODULES[module])[0]:
            if _third_party(name):
                found.setdefault(name.split(".")[0], module)
            elif name in MODULES:
                todo.append(name)
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(requirement: str) -> str:
    return _normalized(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0])


def extra(name: str) -> set[str]:
    """The distributions of an extra, following ``mip-mesh[...]`` references to other extras."""
    found: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][name]:
        if _distribution(requirement) == _normalized(PROJECT["name"]):
            found |= {d for e in re.findall(r"\[(.*)\]", requirement)[0].split(",") for d in extra(e.strip())}
        else:
            found.add(_distribution(requirement))
    return found


CORE = {_distribution(d) for d in PROJECT["dependencies"]}


def _undeclared(imported: dict[str, str], declared: set[str]) -> dict[str, str]:
    distributions = importlib.metadata.packages_distributions()
    return {
        module: where
        for module, where in imported.items()
        if not any(_normalized(d) in declared for d in distributions.get(module, [module]))
    }


def test_every_third_party_import_is_a_declared_dependency() -> None:
    # Arrange
    declared = CORE.union(*(extra(name) for name in PROJECT["optional-dependencies"] if name != "test"))

    # Act
    missing = _undeclared(imported_top_modules(), declared)

    # Assert
    assert not missing, f"imported but in neither [project] dependencies nor an extra of pyproject.toml: {missing}"


@pytest.mark.parametrize("package", sorted(ROLE_EXTRAS))
def test_a_role_installs_what_it_loads(package: str) -> None:
    # Arrange
    declared = CORE.union(*(extra(name) for name in ROLE_EXTRAS[package]))

    # Act
    missing = _undeclared(loaded_top_modules(package), declared)

    # Assert
    assert not missing, f"{package} loads these, but core + {ROLE_EXTRAS[package]} do not install them: {missing}"


@pytest.mark.parametrize("name", SERVER_EXTRAS)
def test_servers_install_no_client_tooling(name: str) -> None:
    assert not extra(name) & CLIENT_ONLY


def test_all_holds_every_extra_but_test() -> None:
    everything = set().union(*(extra(name) for name in PROJECT["optional-dependencies"] if name != "test"))
    assert extra("all") == everything
