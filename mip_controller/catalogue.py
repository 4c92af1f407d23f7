"""The federation catalogue: which node holds which datasets, and requests checked against it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from algorithm_flows import DATASET_COLUMN, InputData, Variable
from mip_common._proto import common_pb2, controller_service_pb2
from mip_common.errors import MipError
from mip_common.filters import filter_problems
from mip_controller.node_client import NodeClient

__all__ = ["Catalogue", "CatalogueCache"]

log = logging.getLogger(__name__)


@dataclass
class Catalogue:
    """What the local nodes hold, merged, with every disagreement reported."""

    data_models: dict[str, common_pb2.DataModel] = field(default_factory=dict)
    dataset_nodes: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    datasets: dict[tuple[str, str], common_pb2.Dataset] = field(default_factory=dict)
    issues: list[controller_service_pb2.CatalogueIssue] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    _variables: dict[str, dict[str, Variable]] = field(default_factory=dict, repr=False, compare=False)
    """variables_of per data model, built once per snapshot (every request asks, twice)."""

    @classmethod
    def merge(cls, answers: Mapping[str, object]) -> Catalogue:
        """Merge per-node catalogue answers (or the errors of nodes that did not answer)."""
        catalogue = cls()
        model_sources: dict[str, tuple[str, bytes]] = {}
        for node_id in sorted(answers):
            answer = answers[node_id]
            if isinstance(answer, BaseException):
                catalogue.unreachable[node_id] = str(answer)
                continue
            for model in answer.data_models:  # type: ignore[attr-defined]
                key = f"{model.code}:{model.version}"
                serialized = model.SerializeToString(deterministic=True)
                if key not in model_sources:
                    model_sources[key] = (node_id, serialized)
                    catalogue.data_models[key] = model
                elif model_sources[key][1] != serialized:
                    first = model_sources[key][0]
                    catalogue.issues.append(
                        controller_service_pb2.CatalogueIssue(
                            message=f"data model {key} has different CDEs on {first} and {node_id}; "
                            f"the federation uses {first}'s",
                            node_ids=[first, node_id],
                            reason_code="CDE_MISMATCH",
                        )
                    )
            for dataset in answer.datasets:  # type: ignore[attr-defined]
                key2 = (dataset.data_model, dataset.code)
                catalogue.dataset_nodes[key2].append(node_id)
                catalogue.datasets.setdefault(key2, dataset)
        for (model, code), nodes in sorted(catalogue.dataset_nodes.items()):
            if len(nodes) > 1:
                catalogue.issues.append(
                    controller_service_pb2.CatalogueIssue(
                        message=f"dataset {code} of {model} is on several nodes {nodes}; "
                        "requests naming it are refused until only one node holds it",
                        node_ids=nodes,
                        reason_code="DUPLICATE_DATASET",
                    )
                )
        return catalogue

    def variables_of(self, data_model: str) -> dict[str, Variable]:
        """The data model's variables as flows see them.

        The ``dataset`` variable's levels are the datasets the federation holds, sorted,
        not the CDE file's list (which may name datasets no node loaded, such as ``*-test``).
        """
        cached = self._variables.get(data_model)
        if cached is not None:
            return dict(cached)
        model = self.data_models[data_model]
        variables = {
            v.code: Variable(
                code=v.code,
                sql_type=v.sql_type,
                is_categorical=v.is_categorical,
                label=v.label,
                enumerations=tuple(e.code for e in v.enumerations),
                min_value=v.min_value if v.HasField("min_value") else None,
                max_value=v.max_value if v.HasField("max_value") else None,
            )
            for v in model.variables
        }
        if DATASET_COLUMN in variables:
            held = tuple(sorted(code for model_key, code in self.dataset_nodes if model_key == data_model))
            variables[DATASET_COLUMN] = dataclasses.replace(variables[DATASET_COLUMN], enumerations=held)
        self._variables[data_model] = variables
        return dict(variables)

    def problems(self, inputdata: InputData) -> list[str]:
        """Every way ``inputdata`` does not fit the catalogue (empty when it fits)."""
        if inputdata.data_model not in self.data_models:
            known = sorted(self.data_models)
            return [f"unknown data model {inputdata.data_model!r}; available: {known}"]
        problems = []
        if not inputdata.datasets:
            problems.append("name at least one dataset")
        for code in inputdata.datasets:
            nodes = self.dataset_nodes.get((inputdata.data_model, code))
            if not nodes:
                problems.append(f"unknown dataset {code!r} in {inputdata.data_model}")
            elif len(nodes) > 1:
                problems.append(f"dataset {code!r} is on several nodes {nodes}; ask the operators to fix it")
        variables = self.variables_of(inputdata.data_model)
        for code in [*inputdata.y, *inputdata.x]:
            if code not in variables:
                problems.append(f"unknown variable {code!r} in {inputdata.data_model}")
        if inputdata.filters:
            problems.extend(filter_problems(inputdata.filters, variables))
        return problems

    def nodes_holding(self, inputdata: InputData) -> dict[str, list[str]]:
        """Local nodes that hold requested datasets, with those datasets."""
        holding: dict[str, list[str]] = defaultdict(list)
        for code in inputdata.datasets:
            for node_id in self.dataset_nodes.get((inputdata.data_model, code), []):
                holding[node_id].append(code)
        return dict(holding)


class CatalogueCache:
    """The catalogue, read from every local node at most once per ``ttl_s``."""

    def __init__(self, nodes: Sequence[NodeClient], ttl_s: float) -> None:
        self._nodes = list(nodes)
        self._ttl_s = ttl_s
        self._value: Catalogue | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, is_fresh_needed: bool = False) -> Catalogue:
        """The catalogue; read anew when stale or when asked."""
        async with self._lock:
            if self._value is None or is_fresh_needed or time.monotonic() - self._read_at > self._ttl_s:
                self._value = await self._read()
                self._read_at = time.monotonic()
            return self._value

    async def _read(self) -> Catalogue:
        deadline = time.monotonic() + 10.0

        async def ask(node: NodeClient) -> object:
            try:
                return await node.data_catalogue(deadline)
            except MipError as exc:
                log.warning(
                    "catalogue unreachable",
                    extra={"fields": {"node": node.node_id, "error": exc.message}},
                )
                return exc

        answers = await asyncio.gather(*(ask(n) for n in self._nodes))
        return Catalogue.merge({n.node_id: a for n, a in zip(self._nodes, answers, strict=True)})
