"""Runs an experiment: checks every step first, then runs the steps in order and cleans up."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from algorithm_flows import (
    AlgorithmError,
    AlgorithmFlow,
    InputData,
    InvalidInputDataError,
    InvalidParametersError,
    LocalTables,
    Variable,
    validate_variables,
)
from mip_common._proto import controller_service_pb2
from mip_common.errors import (
    DataRejectedError,
    DeadlineError,
    FailedPreconditionError,
    InvalidRequestError,
    MipError,
    NodeUnavailableError,
    TooFewRowsError,
)
from mip_common.logs import EXPERIMENT_ID
from mip_common.memory import release_free_memory
from mip_common.metrics import EXPERIMENTS, STEP_SECONDS
from mip_common.naming import check_experiment_id
from mip_controller.catalogue import Catalogue, CatalogueCache
from mip_controller.cleanup import CleanupJournal
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime, ProgressEvent, StepTimings
from mip_controller.table_relay import gather_first_error
from mip_controller.wire import inputdata_from_proto, inputdata_to_proto, params_from_proto, result_json, to_struct
from udf_library import DEFAULT_MIN_ROWS

__all__ = ["Emit", "ExperimentRunner", "ValidatedExperiment", "event"]

log = logging.getLogger(__name__)

_IDLE_BEFORE_RELEASE_S = 1.0


Emit = Callable[[controller_service_pb2.RunExperimentResponse], None]


@dataclass(frozen=True, slots=True)
class _PlannedStep:
    name: str
    flow: type[AlgorithmFlow[Any]]
    params: Any
    inputdata: InputData
    variables: dict[str, Variable]
    input_from: str


@dataclass(frozen=True, slots=True)
class ValidatedExperiment:
    """An experiment request that passed every check, ready to run."""

    experiment_id: str
    plan: tuple[_PlannedStep, ...]
    timeout_s: float
    policy: controller_service_pb2.NodeFailurePolicy

    @property
    def algorithms(self) -> list[str]:
        """Algorithm of each step, in order."""
        return [step.flow.name for step in self.plan]


class ExperimentRunner:
    """Validates and runs experiments over the configured nodes."""

    def __init__(
        self,
        *,
        global_node: NodeClient,
        local_nodes: Mapping[str, NodeClient],
        catalogue: CatalogueCache,
        flows: Mapping[str, type[AlgorithmFlow[Any]]],
        default_timeout_s: float,
        journal: CleanupJournal,
        secure_aggregation: bool = False,
    ) -> None:
        self._journal = journal
        self._is_secure = secure_aggregation
        self.running: set[str] = set()
        """Experiments under way, whose tables cleanup must leave alone."""
        self._thresholds: dict[str, int] = {}
        """Per running experiment: the strictest min_rows of the nodes that took part so far."""
        self._cleanups: set[asyncio.Task[None]] = set()
        """Cleanups still running after their experiment's caller went away."""
        self._trim: asyncio.TimerHandle | None = None
        self._global = global_node
        self._locals = dict(local_nodes)
        self._catalogue = catalogue
        self._flows = dict(flows)
        self._default_timeout_s = default_timeout_s

    async def validate(self, request: controller_service_pb2.RunExperimentRequest) -> ValidatedExperiment:
        """Check every step of ``request`` before anything runs; bad requests raise InvalidRequestError."""
        try:
            experiment_id = check_experiment_id(request.experiment_id or uuid.uuid4().hex)
            timeout_s = request.timeout_seconds or self._default_timeout_s
            if not 0 < timeout_s <= 7 * 24 * 3600:
                raise InvalidRequestError("timeout_seconds must be between 0 and one week")
            if experiment_id in self.running:
                raise InvalidRequestError(f"experiment {experiment_id!r} is already running")
            plan = await self._plan(request)
        except BaseException as exc:
            EXPERIMENTS.labels(outcome="failed", reason=getattr(exc, "reason", type(exc).__name__)).inc()
            raise
        policy = controller_service_pb2.NodeFailurePolicy()
        policy.CopyFrom(request.node_failure_policy)
        return ValidatedExperiment(experiment_id, tuple(plan), timeout_s, policy)

    async def run(self, request: controller_service_pb2.RunExperimentRequest, emit: Emit) -> None:
        """Validate and run ``request``, emitting progress events and, last, the result."""
        await self.execute(await self.validate(request), emit)

    async def execute(self, experiment: ValidatedExperiment, emit: Emit) -> None:
        """Run a validated experiment, emitting progress events and, last, the result; tables are cleaned after."""
        experiment_id = experiment.experiment_id
        EXPERIMENT_ID.set(experiment_id)
        deadline = time.monotonic() + experiment.timeout_s
        started = time.monotonic()
        plan = experiment.plan
        log.info("experiment started", extra={"fields": {"steps": len(plan)}})
        nodes = [self._global, *self._locals.values()]
        if experiment_id in self.running:
            raise InvalidRequestError(f"experiment {experiment_id!r} is already running")
        self.running.add(experiment_id)
        try:
            await asyncio.to_thread(self._journal.begin, experiment_id, [n.node_id for n in nodes])
            results = []
            exposed: dict[str, dict[str, LocalTables]] = {}
            for index, step in enumerate(plan):
                emit(
                    event(
                        experiment_id,
                        step_started=controller_service_pb2.StepStarted(
                            step=step.name,
                            algorithm=step.flow.name,
                            index=index,
                            step_count=len(plan),
                        ),
                    )
                )
                result, outputs = await self._run_step(experiment_id, deadline, step, experiment.policy, exposed, emit)
                exposed[step.name] = outputs
                results.append(result)
            emit(event(experiment_id, result=controller_service_pb2.ExperimentResult(steps=results)))
            log.info("experiment finished", extra={"fields": {"s": round(time.monotonic() - started, 4)}})
            EXPERIMENTS.labels(outcome="finished", reason="").inc()
        except BaseException as exc:
            EXPERIMENTS.labels(outcome="failed", reason=getattr(exc, "reason", type(exc).__name__)).inc()
            raise
        finally:
            self.running.discard(experiment_id)
            self._thresholds.pop(experiment_id, None)
            await self._clean_up_shielded(experiment_id)
            self._release_memory_when_idle()

    async def _plan(self, request: controller_service_pb2.RunExperimentRequest) -> list[_PlannedStep]:
        if not request.steps:
            raise InvalidRequestError("an experiment needs at least one step")
        catalogue = await self._catalogue.get()
        inputs = [inputdata_from_proto(s.inputdata) for s in request.steps]
        if any(self._unknown_datasets(catalogue, i) for i in inputs):
            catalogue = await self._catalogue.get(is_fresh_needed=True)
        problems: list[str] = []
        plan: list[_PlannedStep] = []
        names: set[str] = set()
        for index, (step, inputdata) in enumerate(zip(request.steps, inputs, strict=True)):
            name = step.name or f"step{index}"
            prefix = f"step {name!r}: "
            if name in names:
                problems.append(prefix + "step names must be unique")
            flow = self._flows.get(step.algorithm)
            if flow is None:
                problems.append(prefix + f"unknown algorithm {step.algorithm!r}; available: {sorted(self._flows)}")
                names.add(name)
                continue
            variables: dict[str, Variable] = {}
            if step.input_from:
                source = step.input_from.split(".", 1)[0]
                if source not in names:
                    problems.append(prefix + f"input_from {step.input_from!r} must name an earlier step")
                variables = {c: Variable(c, "real", False) for c in [*inputdata.y, *inputdata.x]}
            else:
                found = catalogue.problems(inputdata)
                problems.extend(prefix + p for p in found)
                if not found:
                    variables = catalogue.variables_of(inputdata.data_model)
            params = None
            try:
                params = params_from_proto(flow.params_type, step.parameters)
            except InvalidParametersError as exc:
                problems.extend(prefix + p for p in exc.problems)
            except InvalidRequestError as exc:
                problems.append(prefix + exc.message)
            try:
                if variables:
                    validate_variables(flow, inputdata, variables)
            except InvalidInputDataError as exc:
                problems.extend(prefix + p for p in exc.problems)
            names.add(name)
            plan.append(_PlannedStep(name, flow, params, inputdata, variables, step.input_from))
        if problems:
            raise InvalidRequestError("; ".join(problems), metadata={"problems": str(len(problems))})
        return plan

    @staticmethod
    def _unknown_datasets(catalogue: Catalogue, inputdata: InputData) -> bool:
        return any((inputdata.data_model, d) not in catalogue.dataset_nodes for d in inputdata.datasets)

    async def _run_step(
        self,
        experiment_id: str,
        deadline: float,
        step: _PlannedStep,
        policy: controller_service_pb2.NodeFailurePolicy,
        exposed: Mapping[str, Mapping[str, LocalTables]],
        emit: Emit,
    ) -> tuple[controller_service_pb2.StepResult, dict[str, LocalTables]]:
        started = time.monotonic()
        result = controller_service_pb2.StepResult(step=step.name, algorithm=step.flow.name)
        if step.input_from:
            source, _, output = step.input_from.partition(".")
            if output not in exposed.get(source, {}):
                raise InvalidRequestError(
                    f"step {step.name!r}: step {source!r} exposed no output {output!r}; "
                    f"it exposed {sorted(exposed.get(source, {}))}"
                )
            data = exposed[source][output]
            available = [c.name for c in data.columns]
            missing = [c for c in [*step.inputdata.y, *step.inputdata.x] if c not in available]
            if missing:
                raise InvalidRequestError(
                    f"step {step.name!r}: {step.input_from!r} has no column {missing}; its columns are {available}"
                )
            for node_id in data.node_ids:
                result.participants.add(node_id=node_id)
        else:
            data = await self._select_data(experiment_id, deadline, step, policy, result)

        def progress(update: ProgressEvent) -> None:
            emit(
                event(
                    experiment_id,
                    step_progress=controller_service_pb2.StepProgress(
                        step=step.name,
                        message=update.message,
                        iteration=update.iteration,
                        total_iterations=update.total,
                        nodes_done=update.nodes_done,
                    ),
                )
            )

        while True:
            runtime = NodeRuntime(
                min_rows=self._thresholds.get(experiment_id) or DEFAULT_MIN_ROWS,  # before any node said its own
                experiment_id=experiment_id,
                deadline=deadline,
                global_node=self._global,
                local_nodes=self._locals,
                data=data,
                inputdata=step.inputdata,
                variables={c: step.variables[c] for c in [*step.inputdata.y, *step.inputdata.x] if c in step.variables},
                on_progress=progress,
                secure_aggregation=self._is_secure,
            )
            try:
                values = await step.flow().run(runtime, step.params)
                break
            except AlgorithmError as exc:
                raise DataRejectedError(f"step {step.name!r} ({step.flow.name}): {exc}") from exc
            except (InvalidParametersError, InvalidInputDataError) as exc:
                raise InvalidRequestError(f"step {step.name!r} ({step.flow.name}): {exc}") from exc
            except (NodeUnavailableError, DeadlineError) as exc:
                if exc.metadata.get("is_budget") == "true":
                    raise _budget_ran_out(step, exc, runtime.timings) from exc
                failed = exc.metadata.get("node_id", "")
                if not self._can_go_on_without(failed, data, policy, deadline):
                    raise _in_step(step, exc) from exc
                log.warning(
                    "step restarts without a failed node", extra={"fields": {"node": failed, "error": exc.message}}
                )
                result.exclusions.add(
                    node_id=failed, reason=f"failed during the step: {exc.message}", reason_code=exc.reason
                )
                _drop_participant(result, failed)
                data = LocalTables({n: t for n, t in data.tables.items() if n != failed}, data.columns)
            except MipError as exc:
                raise _in_step(step, exc) from exc
        result.result.CopyFrom(to_struct(values))
        result.result_json = result_json(values)
        result.secure_aggregation_outputs.extend(runtime.secure_aggregation_outputs)
        STEP_SECONDS.labels(algorithm=step.flow.name).observe(time.monotonic() - started)
        finished = controller_service_pb2.StepFinished(step=step.name)
        finished.duration.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        for node_id, seconds in runtime.timings.per_node_s.items():
            finished.node_durations[node_id].FromNanoseconds(int(seconds * 1e9))
        emit(event(experiment_id, step_finished=finished))
        return result, runtime.exposed

    def _can_go_on_without(
        self,
        node_id: str,
        data: LocalTables,
        policy: controller_service_pb2.NodeFailurePolicy,
        deadline: float,
    ) -> bool:
        """Whether the request lets the step restart on the local nodes left, with time to do it."""
        remaining = [n for n in data.tables if n != node_id]
        return (
            policy.is_skip_failed_nodes
            and node_id in data.tables
            and len(remaining) >= max(1, policy.min_local_nodes)
            and deadline - time.monotonic() > 0.5
        )

    async def _select_data(
        self,
        experiment_id: str,
        deadline: float,
        step: _PlannedStep,
        policy: controller_service_pb2.NodeFailurePolicy,
        result: controller_service_pb2.StepResult,
    ) -> LocalTables:
        catalogue = await self._catalogue.get()
        holding = catalogue.nodes_holding(step.inputdata)
        proto = inputdata_to_proto(step.inputdata)

        async def view(node_id: str) -> Any:
            try:
                return await self._locals[node_id].create_data_view(
                    deadline, experiment_id, proto, keep_missing=not step.flow.drop_missing
                )
            except MipError as exc:
                return exc

        node_ids = sorted(n for n in holding if n in self._locals)
        answers = await gather_first_error(view(n) for n in node_ids)
        parts: dict[str, str] = {}
        columns = ()
        self._thresholds[experiment_id] = 0
        for node_id, answer in zip(node_ids, answers, strict=True):
            if isinstance(answer, TooFewRowsError):
                result.exclusions.add(node_id=node_id, reason=answer.message, reason_code=answer.reason)
            elif isinstance(answer, MipError):
                if not policy.is_skip_failed_nodes or isinstance(answer, InvalidRequestError):
                    raise answer
                result.exclusions.add(node_id=node_id, reason=answer.message, reason_code=answer.reason)
            else:
                parts[node_id] = answer.table.name
                self._thresholds[experiment_id] = max(self._thresholds[experiment_id], int(answer.min_rows))
                result.participants.add(
                    node_id=node_id,
                    dataset_row_counts=dict(answer.dataset_row_counts),
                    row_count=answer.table.row_count,
                )
        if not parts:
            reasons = "; ".join(f"{e.node_id}: {e.reason}" for e in result.exclusions)
            raise TooFewRowsError(
                f"step {step.name!r}: no local node can take part ({reasons or 'none holds the datasets'})"
            )
        if len(parts) < max(1, policy.min_local_nodes):
            raise FailedPreconditionError(
                f"step {step.name!r}: {len(parts)} local node(s) can take part, fewer than the "
                f"requested minimum of {policy.min_local_nodes}"
            )
        return LocalTables(parts, columns)

    def _release_memory_when_idle(self) -> None:
        """Once no experiment has run for a second, give freed heap memory back to the OS.

        Without it the controller's resident size stays at its peak (glibc keeps what
        gRPC and protobuf freed), growing with every burst of experiments.
        """
        if self._trim is not None:
            self._trim.cancel()

        def release() -> None:
            self._trim = None
            if not self.running:
                release_free_memory()

        self._trim = asyncio.get_running_loop().call_later(_IDLE_BEFORE_RELEASE_S, release)

    async def _clean_up_shielded(self, experiment_id: str) -> None:
        """Clean up to the end even if the caller is cancelled meanwhile.

        A client that leaves once it has the result (the result is sent before the cleanup)
        cancels this call; the cleanup goes on as a task of its own, so no table waits
        for the journal's next retry.
        """
        cleanup = asyncio.create_task(self._clean_up(experiment_id))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        await asyncio.shield(cleanup)

    async def _clean_up(self, experiment_id: str) -> None:
        """Delete the experiment's tables everywhere; nodes that do not answer stay in the journal."""
        nodes = [self._global, *self._locals.values()]
        await asyncio.gather(*(self._journal.clean(n, [experiment_id]) for n in nodes))


def _budget_ran_out(step: _PlannedStep, error: MipError, timings: StepTimings) -> DeadlineError:
    """The experiment's time budget ran out: say so, and which node took longest in the step."""
    slowest = max(timings.per_node_s.items(), key=lambda item: item[1], default=None)
    blame = f"; slowest node in this step: {slowest[0]} ({slowest[1]:.1f} s in calls)" if slowest else ""
    return DeadlineError(
        f"step {step.name!r} ({step.flow.name}): {error.message}{blame}; give the experiment more time "
        "(timeout_seconds) or less work",
        metadata={"is_budget": "true"},
    )


def _in_step(step: _PlannedStep, error: MipError) -> MipError:
    """The same error, its message saying in which step it happened."""
    return type(error)(f"step {step.name!r} ({step.flow.name}): {error.message}", metadata=error.metadata)


def _drop_participant(result: controller_service_pb2.StepResult, node_id: str) -> None:
    kept = [p for p in result.participants if p.node_id != node_id]
    del result.participants[:]
    result.participants.extend(kept)


def event(experiment_id: str, **fields: Any) -> controller_service_pb2.RunExperimentResponse:
    """One stream message of ``experiment_id``, stamped now."""
    response = controller_service_pb2.RunExperimentResponse(experiment_id=experiment_id, **fields)
    response.time.GetCurrentTime()
    return response
