"""The HTTP routes: Exaflow's controller API for MIP front ends, each answered by one ControllerService call.

Errors keep the controller's message as the plain-text body. A bad request is 400 (the same
message gRPC gives with INVALID_ARGUMENT); too few rows 461 and data an algorithm rejects 460
(Exaflow's codes for insufficient data and bad user input); an unreachable node 512 and a
deadline 513; 401/403 for authentication; 404 for an unknown experiment, 409 for a cancelled one.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mip_common._proto import common_pb2, controller_service_pb2, controller_service_pb2_grpc
from mip_common.auth import channel_credentials
from mip_common.channels import open_channel
from mip_common.status import error_from_rpc
from mip_gateway.config import GatewayConfig
from mip_gateway.mip_format import algorithm_spec, cde_metadata, parameters_from_mip

__all__ = ["build_app"]

log = logging.getLogger(__name__)

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAVAILABLE: 512,
    grpc.StatusCode.DEADLINE_EXCEEDED: 513,
    grpc.StatusCode.CANCELLED: 409,
}
_HTTP_BY_REASON = {"TOO_FEW_ROWS": 461, "DATA_REJECTED": 460, "FAILED_PRECONDITION": 460}
_UNARY_TIMEOUT_S = 60.0

Handler = Callable[[Request], Awaitable[Response]]


class _BadRequestError(Exception):
    """A request the gateway refuses before calling the controller."""


def build_app(config: GatewayConfig) -> Starlette:
    """The gateway's Starlette app; its gRPC channel opens on startup and closes on shutdown."""
    credentials = (
        channel_credentials(config.tls_ca_file, config.tls_cert_file or None, config.tls_key_file or None)
        if config.tls_ca_file
        else None
    )
    holder: dict[str, Any] = {}

    def stub() -> controller_service_pb2_grpc.ControllerServiceStub:
        if "stub" not in holder:
            holder["channel"] = open_channel(config.controller, credentials=credentials)
            holder["stub"] = controller_service_pb2_grpc.ControllerServiceStub(holder["channel"])
        return holder["stub"]  # type: ignore[no-any-return]

    async def close() -> None:
        if "channel" in holder:
            await holder["channel"].close()

    async def unary(method: str, message: Any, request: Request) -> Any:
        """Call ControllerService.<method> with the HTTP caller's bearer token."""
        return await getattr(stub(), method)(message, metadata=_metadata(request), timeout=_UNARY_TIMEOUT_S)

    def route(handler: Handler) -> Handler:
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except _BadRequestError as exc:
                return PlainTextResponse(str(exc), status_code=400)
            except grpc.aio.AioRpcError as err:
                return _error_response(err)

        return answer

    async def list_algorithms(request: Request) -> Response:
        response = await unary("ListAlgorithms", controller_service_pb2.ListAlgorithmsRequest(), request)
        return JSONResponse([algorithm_spec(a) for a in response.algorithms])

    async def run_algorithm(request: Request) -> Response:
        algorithm = request.path_params["name"]
        body = await _json_body(request)
        experiment = controller_service_pb2.RunExperimentRequest(
            steps=[_step(algorithm, body)], is_progress_off=True, experiment_id=str(body.get("request_id") or "")
        )
        stream = stub().RunExperiment(experiment, metadata=_metadata(request), timeout=config.request_timeout_s)
        experiment_id = ""
        async for event in stream:
            experiment_id = event.experiment_id
            if event.WhichOneof("event") == "result":
                (step,) = event.result.steps
                text = step.result_json or json.dumps(json_format.MessageToDict(step.result))
                return Response(text, media_type="application/json", headers={"x-mip-experiment-id": experiment_id})
        return PlainTextResponse(f"experiment {experiment_id} ended without a result", status_code=500)

    async def data_models(request: Request) -> controller_service_pb2.ListDataModelsResponse:
        response: controller_service_pb2.ListDataModelsResponse = await unary(
            "ListDataModels", controller_service_pb2.ListDataModelsRequest(), request
        )
        return response

    async def datasets(request: Request) -> list[controller_service_pb2.FederatedDataset]:
        response = await unary("ListDatasets", controller_service_pb2.ListDatasetsRequest(), request)
        return list(response.datasets)

    async def get_datasets(request: Request) -> Response:
        grouped: dict[str, list[str]] = {}
        for dataset in await datasets(request):
            grouped.setdefault(dataset.data_model, []).append(dataset.code)
        return JSONResponse(grouped)

    async def get_datasets_locations(request: Request) -> Response:
        grouped: dict[str, dict[str, str]] = {}
        for dataset in await datasets(request):
            grouped.setdefault(dataset.data_model, {})[dataset.code] = ",".join(dataset.node_ids)
        return JSONResponse(grouped)

    async def get_cdes_metadata(request: Request) -> Response:
        models = (await data_models(request)).data_models
        return JSONResponse({f"{m.code}:{m.version}": {v.code: cde_metadata(v) for v in m.variables} for m in models})

    async def get_data_models_attributes(request: Request) -> Response:
        models = (await data_models(request)).data_models
        return JSONResponse(
            {
                f"{m.code}:{m.version}": {
                    "tags": [],
                    "properties": {"label": m.label, "variables": [v.code for v in m.variables]},
                }
                for m in models
            }
        )

    async def get_datasets_variables(request: Request) -> Response:
        variables = {
            f"{m.code}:{m.version}": [v.code for v in m.variables] for m in (await data_models(request)).data_models
        }
        grouped: dict[str, dict[str, list[str]]] = {}
        for dataset in await datasets(request):
            grouped.setdefault(dataset.data_model, {})[dataset.code] = variables.get(dataset.data_model, [])
        return JSONResponse(grouped)

    async def healthcheck(request: Request) -> Response:
        report = await unary("HealthReport", controller_service_pb2.HealthReportRequest(), request)
        down = [n.node_id for n in report.nodes if n.state == controller_service_pb2.NODE_STATE_DOWN]
        if down:
            return PlainTextResponse(f"nodes down: {', '.join(down)}", status_code=503)
        return PlainTextResponse("")

    async def get_experiment(request: Request) -> Response:
        name = "experiments/" + request.path_params["experiment_id"]
        response = await unary("GetExperiment", controller_service_pb2.GetExperimentRequest(name=name), request)
        return JSONResponse(_experiment_json(response.experiment))

    async def cancel_experiment(request: Request) -> Response:
        name = "experiments/" + request.path_params["experiment_id"]
        response = await unary("CancelExperiment", controller_service_pb2.CancelExperimentRequest(name=name), request)
        return JSONResponse(_experiment_json(response.experiment))

    routes = [
        Route("/algorithms", route(list_algorithms), methods=["GET"]),
        Route("/algorithms/{name}", route(run_algorithm), methods=["POST"]),
        Route("/datasets", route(get_datasets), methods=["GET"]),
        Route("/datasets_locations", route(get_datasets_locations), methods=["GET"]),
        Route("/datasets_variables", route(get_datasets_variables), methods=["GET"]),
        Route("/cdes_metadata", route(get_cdes_metadata), methods=["GET"]),
        Route("/data_models_attributes", route(get_data_models_attributes), methods=["GET"]),
        Route("/healthcheck", route(healthcheck), methods=["GET"]),
        Route("/experiments/{experiment_id}", route(get_experiment), methods=["GET"]),
        Route("/experiments/{experiment_id}", route(cancel_experiment), methods=["DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await close()

    return Starlette(routes=routes, lifespan=lifespan)


def _metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """The caller's bearer token, forwarded to the controller (its client_auth = "token")."""
    authorization = request.headers.get("authorization", "")
    return (("authorization", authorization),) if authorization.startswith("Bearer ") else ()


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _BadRequestError(f"Algorithm execution request malformed: the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise _BadRequestError('Algorithm execution request malformed: the body must be {"inputdata": {...}, ...}')
    return body


def _step(algorithm: str, body: dict[str, Any]) -> controller_service_pb2.ExperimentStep:
    """An experiment step from Exaflow's request body {"inputdata", "parameters", "request_id", "flags"}."""
    inputdata = body.get("inputdata")
    if not isinstance(inputdata, dict):
        raise _BadRequestError("Algorithm execution request malformed: 'inputdata' must be an object")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _BadRequestError("Algorithm execution request malformed: 'parameters' must be an object")
    for key in ("datasets", "y", "x"):
        if inputdata.get(key) is not None and not (
            isinstance(inputdata[key], list) and all(isinstance(v, str) for v in inputdata[key])
        ):
            raise _BadRequestError(f"Algorithm execution request malformed: inputdata.{key} must be a list of strings")
    if not isinstance(inputdata.get("data_model", ""), str):
        raise _BadRequestError("Algorithm execution request malformed: inputdata.data_model must be a string")
    message = common_pb2.InputData(
        data_model=inputdata.get("data_model") or "",
        datasets=inputdata.get("datasets") or [],
        y=inputdata.get("y") or [],
        x=inputdata.get("x") or [],
    )
    try:
        if inputdata.get("filters"):
            json_format.ParseDict(inputdata["filters"], message.filters)
        translated = struct_pb2.Struct()
        json_format.ParseDict(parameters_from_mip(algorithm, parameters), translated)
    except (json_format.ParseError, ValueError) as exc:
        raise _BadRequestError(f"Algorithm execution request malformed: {exc}") from None
    return controller_service_pb2.ExperimentStep(algorithm=algorithm, inputdata=message, parameters=translated)


def _error_response(err: grpc.aio.AioRpcError) -> Response:
    """The controller's status as an HTTP status with its message as text."""
    error = error_from_rpc(err)
    code = err.code()
    status = _HTTP_BY_REASON.get(error.reason) if code is not grpc.StatusCode.INVALID_ARGUMENT else None
    status = status or _HTTP_STATUS.get(code, 500)
    if status == 500:
        log.warning("controller call failed", extra={"fields": {"code": code.name, "error": err.details()}})
    return PlainTextResponse(err.details() or code.name, status_code=status)


def _experiment_json(experiment: controller_service_pb2.Experiment) -> dict[str, Any]:
    document = json_format.MessageToDict(experiment, preserving_proto_field_name=True)
    for step, message in zip(document.get("result", {}).get("steps", []), experiment.result.steps, strict=True):
        step.pop("result", None)
        step["result"] = json.loads(message.result_json) if message.result_json else None
        step.pop("result_json", None)
    return document
