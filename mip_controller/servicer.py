"""ControllerService: thin handlers over the experiment runner, catalogue and health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc

from algorithm_flows import AlgorithmFlow, VariableRule, describe_params
from mip_common._proto import controller_service_pb2, controller_service_pb2_grpc
from mip_common.auth import CALLER
from mip_common.result_schema import RESULT_SCHEMAS, ResultField
from mip_controller.catalogue import CatalogueCache
from mip_controller.experiment_store import ExperimentEndedError, ExperimentStore, status_of
from mip_controller.health import HealthMonitor
from mip_controller.wire import federated_dataset, to_value

__all__ = ["ControllerServicer"]


class ControllerServicer(controller_service_pb2_grpc.ControllerServiceServicer):
    """Serves ControllerService."""

    def __init__(
        self,
        store: ExperimentStore,
        catalogue: CatalogueCache,
        flows: Mapping[str, type[AlgorithmFlow[Any]]],
        health: HealthMonitor,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._flows = flows
        self._health = health

    async def RunExperiment(
        self,
        request: controller_service_pb2.RunExperimentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[controller_service_pb2.RunExperimentResponse]:
        record = await self._store.start(request, CALLER.get())
        try:
            async for event in self._store.follow(record, is_progress_off=request.is_progress_off):
                yield event
        except ExperimentEndedError as exc:
            await context.abort_with_status(status_of(exc.error))

    async def GetExperiment(
        self,
        request: controller_service_pb2.GetExperimentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.GetExperimentResponse:
        return controller_service_pb2.GetExperimentResponse(experiment=self._store.get(request.name, CALLER.get()))

    async def ListExperiments(
        self,
        request: controller_service_pb2.ListExperimentsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.ListExperimentsResponse:
        page, next_token = self._store.list(CALLER.get(), request.page_size, request.page_token)
        return controller_service_pb2.ListExperimentsResponse(experiments=page, next_page_token=next_token)

    async def CancelExperiment(
        self,
        request: controller_service_pb2.CancelExperimentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> controller_service_pb2.CancelExperimentResponse:
        experiment = await self._store.cancel(request.name, CALLER.get())
        return controller_service_pb2.CancelExperimentResponse(experiment=experiment)

    async def WatchExperiment(
        self,
        request: controller_service_pb2.WatchExperimentRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[controller_service_pb2.WatchExperimentResponse]:
        try:
            async for event in self._store.watch(request.name, CALLER.get(), is_progress_off=request.is_progress_off):
                # Same fields and numbers as RunExperimentResponse: the bytes parse unchanged.
                yield controller_service_pb2.WatchExperimentResponse.FromString(event.SerializeToString())
        except ExperimentEndedError as exc:
            await context.abort_with_status(status_of(exc.error))

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
            datasets.append(federated_dataset(model, code, nodes, catalogue.datasets[(model, code)]))
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
            parameter.default_value.CopyFrom(to_value(spec.default))
        if spec.minimum is not None:
            parameter.min_value = spec.minimum
        if spec.maximum is not None:
            parameter.max_value = spec.maximum
        parameter.choices.extend(to_value(c) for c in spec.choices)
    info.result_fields.extend(_result_field(f) for f in RESULT_SCHEMAS.get(flow.name, ()))
    return info


def _result_field(field: ResultField) -> controller_service_pb2.ResultField:
    return controller_service_pb2.ResultField(
        name=field.name,
        type=field.type,
        dimensions=field.dimensions,
        is_nullable=field.is_nullable,
        description=field.description + (" (may be absent)" if field.is_optional else ""),
        fields=[_result_field(f) for f in field.fields],
    )


def _rule(rule: VariableRule) -> controller_service_pb2.VariableRule:
    kind = "any" if rule.is_categorical is None else ("categorical" if rule.is_categorical else "numerical")
    message = controller_service_pb2.VariableRule(types=sorted(rule.types), kind=kind, min_count=rule.min_count)
    if rule.max_count is not None:
        message.max_count = rule.max_count
    return message
