"""ControllerService: thin handlers over the experiment runner, catalogue and health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2

from algorithm_flows import AlgorithmFlow, VariableRule, describe_params
from mip_common._proto import controller_service_pb2, controller_service_pb2_grpc
from mip_controller.catalogue import CatalogueCache
from mip_controller.experiments import ExperimentRunner
from mip_controller.health import HealthMonitor

__all__ = ["ControllerServicer"]


class ControllerServicer(controller_service_pb2_grpc.ControllerServiceServicer):
    """Serves ControllerService."""

    def __init__(
        self,
        runner: ExperimentRunner,
        catalogue: CatalogueCache,
        flows: Mapping[str, type[AlgorithmFlow[Any]]],
        health: HealthMonitor,
    ) -> None:
        self._runner = runner
        self._catalogue = catalogue
        self._flows = flows
        self._health = health

    async def RunExperiment(
        self,
        request: controller_service_pb2.RunExperimentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[controller_service_pb2.RunExperimentResponse]:
        events: asyncio.Queue[controller_service_pb2.RunExperimentResponse | None] = asyncio.Queue()
        task = asyncio.create_task(self._runner.run(request, events.put_nowait))
        task.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                yield event
            await task  # raises the experiment's error, if any
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def HealthReport(
        self,
        request: controller_service_pb2.HealthReportRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.HealthReportResponse:
        return await self._health.report()

    async def ListAlgorithms(
        self,
        request: controller_service_pb2.ListAlgorithmsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.ListAlgorithmsResponse:
        return controller_service_pb2.ListAlgorithmsResponse(
            algorithms=[_algorithm_info(flow) for _, flow in sorted(self._flows.items())]
        )

    async def ListDataModels(
        self,
        request: controller_service_pb2.ListDataModelsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.ListDataModelsResponse:
        catalogue = await self._catalogue.get(is_fresh_needed=True)
        return controller_service_pb2.ListDataModelsResponse(
            data_models=[m for _, m in sorted(catalogue.data_models.items())],
            issues=catalogue.issues,
        )

    async def ListDatasets(
        self,
        request: controller_service_pb2.ListDatasetsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.ListDatasetsResponse:
        catalogue = await self._catalogue.get(is_fresh_needed=True)
        datasets = []
        for (model, code), nodes in sorted(catalogue.dataset_nodes.items()):
            if request.data_model and model != request.data_model:
                continue
            dataset = catalogue.datasets[(model, code)]
            datasets.append(
                controller_service_pb2.FederatedDataset(
                    code=code,
                    data_model=model,
                    node_ids=nodes,
                    row_count=dataset.row_count,
                    label=dataset.label,
                )
            )
        return controller_service_pb2.ListDatasetsResponse(datasets=datasets, issues=catalogue.issues)


def _algorithm_info(flow: type[AlgorithmFlow[Any]]) -> controller_service_pb2.AlgorithmInfo:
    info = controller_service_pb2.AlgorithmInfo(
        name=flow.name,
        label=flow.label,
        description=(flow.__doc__ or "").strip(),
        y=_rule(flow.y),
        x=_rule(flow.x),
    )
    for spec in describe_params(flow.params_type):
        parameter = info.parameters.add(
            name=spec.name, type=spec.type, description=spec.doc, is_required=spec.is_required
        )
        if not spec.is_required and spec.default is not None:
            parameter.default_value.CopyFrom(_value(spec.default))
        if spec.minimum is not None:
            parameter.min_value = spec.minimum
        if spec.maximum is not None:
            parameter.max_value = spec.maximum
        parameter.choices.extend(_value(c) for c in spec.choices)
    return info


def _rule(rule: VariableRule) -> controller_service_pb2.VariableRule:
    kind = "any" if rule.is_categorical is None else ("categorical" if rule.is_categorical else "numerical")
    message = controller_service_pb2.VariableRule(types=sorted(rule.types), kind=kind, min_count=rule.min_count)
    if rule.max_count is not None:
        message.max_count = rule.max_count
    return message


def _value(value: Any) -> struct_pb2.Value:
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    return holder.fields["v"]
