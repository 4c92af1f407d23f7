"""A typed Python client of the controller, for scripts and notebooks.

from mip_client.client import Controller

with Controller("127.0.0.1:50050") as mip:
    print(mip.datasets())
    result = mip.run("kmeans", data_model="demo:1.0", datasets=["demo_site1_a"],
                     y=["hippocampus", "entorhinal"], parameters={"numOfClusters": 3},
                     on_progress=print)
    print(result.result["centroids"])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mip_client.results import AlgorithmResult, typed_result
from mip_common._proto import common_pb2, controller_service_pb2, controller_service_pb2_grpc
from mip_common.auth import channel_credentials
from mip_common.errors import MipError, NodeUnavailableError
from mip_common.status import error_from_rpc

__all__ = ["Controller", "ExperimentCancelledError", "ExperimentInfo", "Progress", "StepOutcome"]

_STATES = {
    controller_service_pb2.EXPERIMENT_STATE_RUNNING: "running",
    controller_service_pb2.EXPERIMENT_STATE_SUCCEEDED: "succeeded",
    controller_service_pb2.EXPERIMENT_STATE_FAILED: "failed",
    controller_service_pb2.EXPERIMENT_STATE_CANCELLED: "cancelled",
}


class ExperimentCancelledError(MipError):
    """The experiment was stopped by CancelExperiment before it finished."""

    reason = "EXPERIMENT_CANCELLED"


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress event of a running experiment."""

    step: str
    kind: str
    """"accepted" (first, once the request passed validation), "started", "progress" or "finished"."""
    message: str = ""
    iteration: int = 0
    total_iterations: int = 0
    nodes_done: int = 0
    """Local nodes that answered the last round."""
    index: int = 0
    step_count: int = 0
    duration_s: float = 0.0
    experiment_id: str = ""


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """The result of one step, with who took part.

    ``result`` is the typed JSON of StepResult.result_json: keys in the algorithm's order,
    integers as ints, non-finite floats as "NaN"/"Infinity"/"-Infinity"; ``typed`` decodes it.
    """

    step: str
    algorithm: str
    result: dict[str, Any]
    participants: dict[str, int] = field(default_factory=dict)
    """Rows contributed by each local node."""
    exclusions: dict[str, str] = field(default_factory=dict)
    """Local nodes left out, with why."""
    experiment_id: str = ""
    """The experiment the step belonged to (for ``get_experiment``)."""
    secure_aggregation_outputs: list[str] = field(default_factory=list)
    """Outputs merged by secure aggregation ("udf/output"), one per round."""

    @property
    def typed(self) -> AlgorithmResult:
        """The result as the algorithm's typed result object (``KmeansResult``, ...; see ``results``)."""
        return typed_result(self.algorithm, self.result)


@dataclass(frozen=True, slots=True)
class ExperimentInfo:
    """An experiment kept by the controller: where it stands and, once it succeeded, its steps' results."""

    experiment_id: str
    state: str
    """"running", "succeeded", "failed" or "cancelled"."""
    algorithms: list[str]
    create_time: datetime
    end_time: datetime | None
    steps: list[StepOutcome]
    """Empty unless the experiment succeeded (and always empty in ``list_experiments``)."""
    error: str = ""
    """Why it failed or was cancelled."""
    step: str = ""
    """The step running (or last run)."""
    iteration: int = 0
    total_iterations: int = 0


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
        self._is_tls = credentials is not None

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
        experiment_id: str = "",
    ) -> StepOutcome:
        """Run one algorithm and return its result.

        Progress events reach ``on_progress`` (the first, ``kind="accepted"``, carries the
        experiment id); without ``on_progress`` the controller sends none.
        """
        step = experiment_step(algorithm, data_model, datasets, y, x, filters, parameters)
        return self.run_pipeline([step], on_progress=on_progress, timeout_s=timeout_s, experiment_id=experiment_id)[0]

    def run_pipeline(
        self,
        steps: Sequence[controller_service_pb2.ExperimentStep],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout_s: float = 0.0,
        is_skip_failed_nodes: bool = False,
        experiment_id: str = "",
    ) -> list[StepOutcome]:
        """Run steps one after another; a step may read an earlier one's output via ``input_from``."""
        request = controller_service_pb2.RunExperimentRequest(
            steps=steps, timeout_seconds=timeout_s, experiment_id=experiment_id, is_progress_off=on_progress is None
        )
        request.node_failure_policy.is_skip_failed_nodes = is_skip_failed_nodes
        return self._follow(self._stub.RunExperiment(request, timeout=(timeout_s or 3600) + 30), on_progress)

    def get_experiment(self, experiment_id: str) -> ExperimentInfo:
        """One of your experiments, with its steps' results once it succeeded."""
        request = controller_service_pb2.GetExperimentRequest(name=_name(experiment_id))
        return _info(self._unary(self._stub.GetExperiment, request).experiment)

    def list_experiments(self, *, page_size: int = 50) -> Iterator[ExperimentInfo]:
        """Your experiments, newest first (without results), fetched a page at a time."""
        token = ""
        while True:
            request = controller_service_pb2.ListExperimentsRequest(page_size=page_size, page_token=token)
            page = self._unary(self._stub.ListExperiments, request)
            yield from (_info(e) for e in page.experiments)
            if not (token := page.next_page_token):
                return

    def cancel_experiment(self, experiment_id: str) -> ExperimentInfo:
        """Stop one of your experiments; returns once its tables are deleted."""
        request = controller_service_pb2.CancelExperimentRequest(name=_name(experiment_id))
        return _info(self._unary(self._stub.CancelExperiment, request).experiment)

    def watch_experiment(
        self, experiment_id: str, *, on_progress: Callable[[Progress], None] | None = None, timeout_s: float = 3600
    ) -> list[StepOutcome]:
        """Reattach to one of your experiments: replay its progress, follow it, and return its result."""
        request = controller_service_pb2.WatchExperimentRequest(
            name=_name(experiment_id), is_progress_off=on_progress is None
        )
        return self._follow(self._stub.WatchExperiment(request, timeout=timeout_s), on_progress)

    def _follow(self, stream: Any, on_progress: Callable[[Progress], None] | None) -> list[StepOutcome]:
        experiment_id: str | None = None  # known once the first event arrived
        try:
            for event in stream:
                experiment_id = event.experiment_id
                kind = event.WhichOneof("event")
                if kind == "result":
                    return [_outcome(s, event.experiment_id) for s in event.result.steps]
                if on_progress is not None:
                    on_progress(_progress(event))
        except grpc.RpcError as err:
            raise _call_error(err, self.address, self._is_tls, experiment_id) from None
        raise MipError("the controller ended the experiment without a result")

    def _unary(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=60)
        except grpc.RpcError as err:
            raise _call_error(err, self.address, self._is_tls) from None


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


def _outcome(step: controller_service_pb2.StepResult, experiment_id: str) -> StepOutcome:
    return StepOutcome(
        step=step.step,
        algorithm=step.algorithm,
        result=json.loads(step.result_json) if step.result_json else json_format.MessageToDict(step.result),
        participants={p.node_id: int(p.row_count) for p in step.participants},
        exclusions={e.node_id: e.reason for e in step.exclusions},
        experiment_id=experiment_id,
        secure_aggregation_outputs=list(step.secure_aggregation_outputs),
    )


def _name(experiment_id: str) -> str:
    return experiment_id if experiment_id.startswith("experiments/") else f"experiments/{experiment_id}"


def _time(stamp: Any) -> datetime:
    return datetime.fromtimestamp(stamp.ToNanoseconds() / 1e9, tz=UTC)


def _info(experiment: controller_service_pb2.Experiment) -> ExperimentInfo:
    return ExperimentInfo(
        experiment_id=experiment.experiment_id,
        state=_STATES.get(experiment.state, "unspecified"),
        algorithms=list(experiment.algorithms),
        create_time=_time(experiment.create_time),
        end_time=_time(experiment.end_time) if experiment.HasField("end_time") else None,
        steps=[_outcome(s, experiment.experiment_id) for s in experiment.result.steps],
        error=experiment.error.message,
        step=experiment.progress.step,
        iteration=experiment.progress.iteration,
        total_iterations=experiment.progress.total_iterations,
    )


_NOTHING_LISTENING = ("connection refused", "failed to connect to remote host", "name resolution", "dns")


def _call_error(err: grpc.RpcError, address: str, is_tls: bool, experiment_id: str | None = None) -> MipError:
    """The typed error of a failed call; a controller that cannot be reached says why.

    Three cases read alike on the wire (UNAVAILABLE, no status details): nothing listens
    at the address (connection refused), the connection broke after the experiment had
    started (the controller stopped), or a TLS connection was closed at or right after the
    handshake (the controller refused the certificate; with TLS 1.3 the client sees only
    "Socket closed").
    """
    if err.code() is grpc.StatusCode.CANCELLED and _reason(err) == ExperimentCancelledError.reason:  # type: ignore[attr-defined]
        return ExperimentCancelledError(err.details())  # type: ignore[attr-defined]
    if err.code() is not grpc.StatusCode.UNAVAILABLE or rpc_status.from_call(err) is not None:  # type: ignore[attr-defined]
        return error_from_rpc(err, context=f"controller {address}")
    details = str(err.details())  # type: ignore[attr-defined]
    is_nothing_listening = any(words in details.lower() for words in _NOTHING_LISTENING)
    if is_tls and experiment_id is None and not is_nothing_listening:
        return NodeUnavailableError(
            f"the TLS handshake with the controller at {address} failed: the certificate was refused ({details}); "
            "check --ca (the CA that signed the controller's certificate) and --cert/--key (a client "
            "certificate the controller's CA signed)"
        )
    if experiment_id is not None:
        named = f"experiment {experiment_id}" if experiment_id else "the experiment"
        return NodeUnavailableError(
            f"connection to the controller at {address} lost mid-experiment ({named}; {details}); the "
            "controller may have stopped: its nodes delete the experiment's tables when it is back"
        )
    if not is_nothing_listening:
        return NodeUnavailableError(f"the controller at {address} closed the connection ({details}); try again")
    return NodeUnavailableError(
        f"cannot reach the controller: nothing is listening at {address} ({details}); is it running? "
        "start one with `mip federation up`, or pass --controller HOST:PORT"
    )


def _reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def _progress(event: Any) -> Progress:
    kind = event.WhichOneof("event")
    experiment_id = event.experiment_id
    if kind == "accepted":
        return Progress("", "accepted", step_count=event.accepted.step_count, experiment_id=experiment_id)
    if kind == "step_started":
        s = event.step_started
        return Progress(s.step, "started", index=s.index, step_count=s.step_count, experiment_id=experiment_id)
    if kind == "step_finished":
        f = event.step_finished
        return Progress(f.step, "finished", duration_s=f.duration.ToNanoseconds() / 1e9, experiment_id=experiment_id)
    p = event.step_progress
    return Progress(
        p.step,
        "progress",
        p.message,
        p.iteration,
        p.total_iterations,
        nodes_done=p.nodes_done,
        experiment_id=experiment_id,
    )
