"""The ``@udf`` decorator: turns a typed Python function into a UDF a node can list and run."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from udf_library._bundle import ArrayBundle
from udf_library._policy import DisclosurePolicy
from udf_library._secure_sum import SECURE_SUM

__all__ = ["LITERAL_TYPE_NAMES", "WHOLE_VIEW", "Output", "UdfInput", "UdfSpec", "private", "shared", "udf", "udf_spec"]

WHOLE_VIEW = "<whole view>"
"""``shared(name, rows=WHOLE_VIEW)``: the output is one aggregate over every row of its input."""

F = TypeVar("F", bound=Callable[..., Any])

_MERGES = ("concat", SECURE_SUM)

LITERAL_TYPE_NAMES: dict[Any, str] = {
    int: "int",
    float: "real",
    str: "text",
    bool: "bool",
    list[str]: "list[text]",
    list[float]: "list[real]",
    list[int]: "list[int]",
    dict[str, Any]: "json",
    Any: "json",
}
"""mip type names of the Python types a literal may have; algorithm parameters use the same names."""


@dataclass(frozen=True, slots=True)
class Output:
    """One output table of a UDF; ``shared`` outputs may leave the node that made them.

    ``rows`` declares the cells of a shared output: the columns (names or ``fnmatch``
    patterns) whose values count the rows behind a value (a cluster, level, class, bin,
    fold, dataset), or ``(WHOLE_VIEW,)`` for one aggregate over the whole input. The node
    refuses a shared output over private rows that declares nothing, and one with a cell
    under its ``min_cell_rows``. ``label`` names the column that says which cell it was
    (never its count); ``hint`` tells the researcher what to change.

    ``merge`` is how the global node merges the nodes' tables: ``"concat"`` (one block of
    rows per node) or ``"secure_sum"`` (the element-wise sum of every column but the
    ``keys``, which must be equal on every node; masked under secure aggregation).
    """

    name: str
    shared: bool = False
    rows: tuple[str, ...] = ()
    label: str = ""
    hint: str = ""
    merge: str = "concat"
    keys: tuple[str, ...] = ()

    @property
    def is_secure_sum(self) -> bool:
        """Whether the output is merged as a sum over nodes (masked under secure aggregation)."""
        return self.merge == SECURE_SUM

    @property
    def is_whole_view(self) -> bool:
        """Whether the output is a single aggregate over every row of its input."""
        return self.rows == (WHOLE_VIEW,)


def shared(
    name: str,
    *,
    rows: str | tuple[str, ...] = (),
    label: str = "",
    hint: str = "",
    merge: str = "concat",
    keys: tuple[str, ...] = (),
) -> Output:
    """An output that may be read by the controller and copied to other nodes; see ``Output``."""
    if merge not in _MERGES:
        raise TypeError(f"output {name!r}: merge must be one of {_MERGES}, got {merge!r}")
    if keys and merge != SECURE_SUM:
        raise TypeError(f"output {name!r}: keys are only for merge={SECURE_SUM!r}")
    declared = (rows,) if isinstance(rows, str) else tuple(rows)
    return Output(name, shared=True, rows=declared, label=label, hint=hint, merge=merge, keys=tuple(keys))


def private(name: str) -> Output:
    """An output that stays on the node that made it (the default)."""
    return Output(name, shared=False)


@dataclass(frozen=True, slots=True)
class UdfInput:
    """One parameter of a UDF: a table (``ArrayBundle``) or a literal of a mip type."""

    name: str
    type: str
    is_table: bool
    is_optional: bool
    is_set_by_node: bool = False


@dataclass(frozen=True, slots=True)
class UdfSpec:
    """What a node needs to list and run a UDF, read from its signature and decorator."""

    name: str
    func: Callable[..., Any]
    inputs: tuple[UdfInput, ...]
    outputs: tuple[Output, ...]
    doc: str

    @property
    def table_inputs(self) -> list[str]:
        """Names of the parameters that take tables."""
        return [i.name for i in self.inputs if i.is_table]

    @property
    def policy_input(self) -> str | None:
        """The parameter the node fills with its ``DisclosurePolicy``, if the UDF takes one."""
        return next((i.name for i in self.inputs if i.is_set_by_node), None)

    def signature_text(self) -> str:
        """A one-line typed signature, for people reading ``ListUDFs``."""
        params = ", ".join(
            f"{i.name}: {i.type}{'?' if i.is_optional else ''}" for i in self.inputs if not i.is_set_by_node
        )
        outs = ", ".join(f"{o.name}{' (shared)' if o.shared else ''}" for o in self.outputs)
        return f"{self.name}({params}) -> {outs}"


def udf(*, outputs: tuple[Output, ...] = (private("result"),)) -> Callable[[F], F]:
    """Declare a function as a UDF.

    The function returns one ``ArrayBundle`` when it declares one output and a tuple of
    them, in declaration order, when it declares several. Outputs are private unless
    declared with ``shared(name)``; the node enforces that, not the caller.
    """
    if not outputs:
        raise TypeError("a UDF needs at least one output")
    if len({o.name for o in outputs}) != len(outputs):
        raise TypeError("UDF output names must be unique")

    def wrap(func: F) -> F:
        module = func.__module__.rsplit(".", 1)[-1].removesuffix("_udfs")
        hints = typing.get_type_hints(func)
        inputs = tuple(
            _input_of(func.__qualname__, p, hints.get(p.name)) for p in inspect.signature(func).parameters.values()
        )
        doc = inspect.getdoc(func) or ""
        func.__udf_spec__ = UdfSpec(  # type: ignore[attr-defined]
            name=f"{module}.{func.__name__}", func=func, inputs=inputs, outputs=outputs, doc=doc
        )
        return func

    return wrap


def udf_spec(func: Callable[..., Any]) -> UdfSpec:
    """The spec of a decorated UDF; a clear error for a plain function."""
    spec = getattr(func, "__udf_spec__", None)
    if not isinstance(spec, UdfSpec):
        raise TypeError(f"{getattr(func, '__qualname__', func)!r} is not decorated with @udf")
    return spec


def _input_of(owner: str, param: inspect.Parameter, hint: Any) -> UdfInput:
    if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
        raise TypeError(f"{owner}: UDF parameters must be named, not *args or **kwargs")
    if hint is None:
        raise TypeError(f"{owner}: parameter {param.name!r} needs a type annotation")
    is_optional = param.default is not inspect.Parameter.empty
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        is_optional = True
        hint = next(a for a in args if a is not type(None))
    if hint is ArrayBundle:
        return UdfInput(param.name, "table", is_table=True, is_optional=is_optional)
    if hint is DisclosurePolicy:
        return UdfInput(param.name, "policy", is_table=False, is_optional=False, is_set_by_node=True)
    if hint not in LITERAL_TYPE_NAMES:
        raise TypeError(f"{owner}: parameter {param.name!r} has unsupported type {hint!r}")
    return UdfInput(param.name, LITERAL_TYPE_NAMES[hint], is_table=False, is_optional=is_optional)
