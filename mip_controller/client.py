"""A typed Python client of the controller, for scripts and notebooks.

from mip_controller.client import Controller

with Controller("127.0.0.1:50050") as mip:
    print(mip.datasets())
    result = mip.run("kmeans", data_model="demo:1.0", datasets=["demo_site1_a"],
                     y=["hippocampus", "entorhinal"], parameters={"numOfClusters": 3},
                     on_progress=print)
    print(result.result["centroids"])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from grpc_status import rpc_status

from mip_common._proto import common_pb2, controller_service_pb2, controller_service_pb2_grpc
from mip_common.auth import channel_credentials
from mip_common.errors import MipError, NodeUnavailableError
from mip_common.status import error_from_rpc

__all__ = ["Controller", "Progress", "StepOutcome"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event of a running experiment."""

    step: str
    kind: str
    """"started", "progress" or "finished"."""
    message: str = ""
    iteration: int = 0
    total_iterations: int = 0
    nodes_done: int = 0
    """Local nodes that answered the last round."""
    index: int = 0
    step_count: int = 0
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """The result of one step, with who took part."""

    step: str
    algorithm: str
    result: dict[str, Any]
    participants: dict[str, int] = field(default_factory=dict)
    """Rows contributed by each local node."""
    exclusions: dict[str, str] = field(default_factory=dict)
    """Local nodes left out, with why."""
    secure_aggregation_outputs: list[str] = field(default_factory=list)
    """Outputs merged by secure aggregation ("udf/output"), one per round."""


class Controller:
    """A connection to a controller. Errors are raised as ``mip_common.errors.MipError`` subclasses."""

    def __init__(
        self,
        address: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        token: str = "",
    ) -> None:
        """Connect to ``address``; plaintext unless TLS is asked for.

        ``ca_file`` (PEM; the system's roots if omitted) turns TLS on and verifies the controller.
        ``cert_file``/``key_file`` present a client certificate (``client_auth = "mtls"``);
        ``token`` sends ``authorization: Bearer <token>`` on every call (``client_auth = "token"``).
        ``credentials`` overrides all of them.
        """
        if credentials is None and (ca_file or cert_file or key_file or token):
            credentials = channel_credentials(ca_file, cert_file, key_file, token=token)
        self._channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
        self._stub = controller_service_pb2_grpc.ControllerServiceStub(self._channel)
        self.address = address

    def close(self) -> None:
        """Close the connection."""
        self._channel.close()

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def algorithms(self) -> list[controller_service_pb2.AlgorithmInfo]:
        """The algorithm catalogue."""
        return list(self._unary(self._stub.ListAlgorithms, controller_service_pb2.ListAlgorithmsRequest()).algorithms)

    def datasets(self, data_model: str = "") -> list[controller_service_pb2.FederatedDataset]:
        """Datasets of the federation and the nodes that hold them."""
        request = controller_service_pb2.ListDatasetsRequest(data_model=data_model)
        return list(self._unary(self._stub.ListDatasets, request).datasets)

    def data_models(self) -> controller_service_pb2.ListDataModelsResponse:
        """Data models with their variables, and catalogue issues."""
        response: controller_service_pb2.ListDataModelsResponse = self._unary(
            self._stub.ListDataModels, controller_service_pb2.ListDataModelsRequest()
        )
        return response

    def health(self) -> controller_service_pb2.HealthReportResponse:
        """Every node's health."""
        report: controller_service_pb2.HealthReportResponse = self._unary(
            self._stub.HealthReport, controller_service_pb2.HealthReportRequest()
        )
        return report

    def run(
        self,
        algorithm: str,
        *,
        data_model: str,
        datasets: Sequence[str],
        y: Sequence[str] = (),
        x: Sequence[str] = (),
        filters: Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        timeout_s: float = 0.0,
    ) -> StepOutcome:
        """Run one algorithm and return its result."""
        step = experiment_step(algorithm, data_model, datasets, y, x, filters, parameters)
        return self.run_pipeline([step], on_progress=on_progress, timeout_s=timeout_s)[0]

    def run_pipeline(
        self,
        steps: Sequence[controller_service_pb2.ExperimentStep],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout_s: float = 0.0,
        is_skip_failed_nodes: bool = False,
    ) -> list[StepOutcome]:
        """Run steps one after another; a step may read an earlier one's output via ``input_from``."""
        request = controller_service_pb2.RunExperimentRequest(steps=steps, timeout_seconds=timeout_s)
        request.node_failure_policy.is_skip_failed_nodes = is_skip_failed_nodes
        try:
            for event in self._stub.RunExperiment(request, timeout=(timeout_s or 3600) + 30):
                kind = event.WhichOneof("event")
                if kind == "result":
                    return [_outcome(s) for s in event.result.steps]
                if on_progress is not None:
                    on_progress(_progress(event))
        except grpc.RpcError as err:
            raise _call_error(err, self.address) from None
        raise MipError("the controller ended the experiment without a result")

    def _unary(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=60)
        except grpc.RpcError as err:
            raise _call_error(err, self.address) from None


def experiment_step(
    algorithm: str,
    data_model: str,
    datasets: Sequence[str],
    y: Sequence[str] = (),
    x: Sequence[str] = (),
    filters: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    name: str = "",
    input_from: str = "",
) -> controller_service_pb2.ExperimentStep:
    """An experiment step message from plain values."""
    inputdata = common_pb2.InputData(data_model=data_model, datasets=datasets, y=y, x=x)
    if filters:
        json_format.ParseDict(dict(filters), inputdata.filters)
    params = struct_pb2.Struct()
    json_format.ParseDict(dict(parameters or {}), params)
    return controller_service_pb2.ExperimentStep(
        name=name,
        algorithm=algorithm,
        inputdata=inputdata,
        parameters=params,
        input_from=input_from,
    )


def _outcome(step: controller_service_pb2.StepResult) -> StepOutcome:
    return StepOutcome(
        step=step.step,
        algorithm=step.algorithm,
        result=json_format.MessageToDict(step.result),
        participants={p.node_id: int(p.row_count) for p in step.participants},
        exclusions={e.node_id: e.reason for e in step.exclusions},
        secure_aggregation_outputs=list(step.secure_aggregation_outputs),
    )


def _call_error(err: grpc.RpcError, address: str) -> MipError:
    """The typed error of a failed call; a controller that cannot be reached says so plainly."""
    if err.code() is grpc.StatusCode.UNAVAILABLE and rpc_status.from_call(err) is None:  # type: ignore[attr-defined]
        return NodeUnavailableError(
            f"cannot reach controller at {address} ({err.details()}); is it running? "  # type: ignore[attr-defined]
            "start one with `mip federation up`, or pass --controller HOST:PORT"
        )
    return error_from_rpc(err, context=f"controller {address}")


def _progress(event: controller_service_pb2.RunExperimentResponse) -> Progress:
    kind = event.WhichOneof("event")
    if kind == "step_started":
        s = event.step_started
        return Progress(s.step, "started", index=s.index, step_count=s.step_count)
    if kind == "step_finished":
        f = event.step_finished
        return Progress(f.step, "finished", duration_s=f.duration.ToNanoseconds() / 1e9)
    p = event.step_progress
    return Progress(p.step, "progress", p.message, p.iteration, p.total_iterations, nodes_done=p.nodes_done)
