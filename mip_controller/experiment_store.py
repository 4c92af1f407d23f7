"""Experiments as resources: each run outlives the call that started it, can be read, listed, watched
and cancelled, and is kept in ``state_dir/experiments`` for ``experiment_retention_s`` after it ends.

An experiment runs as its own task, so a client whose connection drops loses nothing: it reattaches
with WatchExperiment or reads the result with GetExperiment. A caller sees only the experiments it
started (its ``CALLER`` identity); without client authentication every caller is the same one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mip_common._proto import controller_service_pb2
from mip_common.errors import AlreadyExistsError, InvalidRequestError, MipError, NotFoundError
from mip_common.naming import check_experiment_id
from mip_common.status import DOMAIN, code_of
from mip_controller.experiments import ExperimentRunner, ValidatedExperiment, event

__all__ = ["NAME_PREFIX", "ExperimentEndedError", "ExperimentStore", "status_of"]

log = logging.getLogger(__name__)

NAME_PREFIX = "experiments/"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_CANCEL_WAIT_S = 30.0
"""Longest CancelExperiment waits for the experiment's tables to be deleted."""
_PROGRESS_EVENTS = frozenset({"step_started", "step_progress", "step_finished"})

Experiment = controller_service_pb2.Experiment
Event = controller_service_pb2.RunExperimentResponse
State = controller_service_pb2.ExperimentState


class ExperimentEndedError(Exception):
    """An experiment ended without a result; ``error`` is the status its stream ends with."""

    def __init__(self, error: controller_service_pb2.ExperimentError) -> None:
        super().__init__(error.message)
        self.error = error


def status_of(error: controller_service_pb2.ExperimentError) -> grpc.Status:
    """The gRPC status of a stored error: its code, message and ``ErrorInfo{reason}``."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN))
    code = grpc.StatusCode[error.code].value[0] if error.code in grpc.StatusCode.__members__ else 2
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=[info]))


class _Record:
    """An experiment and, while it runs, its stream so far and the streams following it."""

    __slots__ = ("events", "experiment", "task", "watchers")

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.events: list[Event] = []
        self.watchers: list[asyncio.Queue[Event | None]] = []
        self.task: asyncio.Task[None] | None = None

    @property
    def is_running(self) -> bool:
        return self.experiment.state == controller_service_pb2.EXPERIMENT_STATE_RUNNING


class ExperimentStore:
    """Starts experiments through the runner and keeps them, in memory and on disk."""

    def __init__(self, runner: ExperimentRunner, state_dir: Path, retention_s: float) -> None:
        self._runner = runner
        self._dir = state_dir / "experiments"
        self._retention_s = retention_s
        self._records: dict[str, _Record] = {}
        self._is_closing = False
        self._writing = asyncio.Lock()

    def load(self) -> None:
        """Read the kept experiments; one that was running when the controller stopped is failed."""
        self._dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._dir.glob("*.binpb")):
            try:
                experiment = Experiment.FromString(path.read_bytes())
            except Exception:
                log.warning("unreadable experiment file skipped", extra={"fields": {"path": str(path)}})
                continue
            record = _Record(experiment)
            if record.is_running:
                self._end(
                    record,
                    controller_service_pb2.EXPERIMENT_STATE_FAILED,
                    _error(
                        "UNAVAILABLE",
                        "CONTROLLER_RESTARTED",
                        f"the controller stopped while experiment {experiment.experiment_id!r} ran; run it again",
                    ),
                )
                self._write(record.experiment)
            self._records[experiment.experiment_id] = record
        self._prune()
        log.info("experiments loaded", extra={"fields": {"experiments": len(self._records)}})

    async def close(self) -> None:
        """Stop every running experiment (its tables are cleaned) before the controller exits."""
        self._is_closing = True
        tasks = [r.task for r in self._records.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CANCEL_WAIT_S)

    async def start(self, request: controller_service_pb2.RunExperimentRequest, owner: str) -> _Record:
        """Validate ``request`` and start it as a task of its own; bad requests raise before it exists."""
        validated = await self._runner.validate(request)
        experiment_id = validated.experiment_id
        known = self._records.get(experiment_id)
        if known is not None and known.is_running:
            raise InvalidRequestError(f"experiment {experiment_id!r} is already running")
        if known is not None and known.experiment.owner != owner:
            raise AlreadyExistsError(f"experiment id {experiment_id!r} is taken; choose another or leave it empty")
        experiment = Experiment(
            name=NAME_PREFIX + experiment_id,
            experiment_id=experiment_id,
            state=controller_service_pb2.EXPERIMENT_STATE_RUNNING,
            algorithms=validated.algorithms,
            owner=owner,
        )
        experiment.create_time.GetCurrentTime()
        experiment.progress.step_count = len(validated.plan)
        record = _Record(experiment)
        record.events.append(self._accepted(experiment))
        self._records[experiment_id] = record
        await self._save(experiment)  # before the run starts: its result's write must be the last one
        record.task = asyncio.create_task(self._execute(record, validated), name=f"experiment-{experiment_id}")
        self._prune()
        return record

    def get(self, name: str, owner: str) -> Experiment:
        """A copy of the caller's experiment ``name``."""
        copy = Experiment()
        copy.CopyFrom(self._find(name, owner).experiment)
        return copy

    def list(self, owner: str, page_size: int, page_token: str) -> tuple[list[Experiment], str]:
        """One page of the caller's experiments, newest first, without results; and the next page's token."""
        if page_size < 0:
            raise InvalidRequestError(f"page_size must be 0 (default {DEFAULT_PAGE_SIZE}) or more, got {page_size}")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        self._prune()
        mine = sorted(
            (r.experiment for r in self._records.values() if r.experiment.owner == owner),
            key=_order,
            reverse=True,
        )
        if page_token:
            after = _parse_token(page_token)
            mine = [e for e in mine if _order(e) < after]
        page = []
        for experiment in mine[:size]:
            brief = Experiment()
            brief.CopyFrom(experiment)
            brief.ClearField("result")
            page.append(brief)
        next_token = _token(_order(mine[size - 1])) if len(mine) > size else ""
        return page, next_token

    async def cancel(self, name: str, owner: str) -> Experiment:
        """Stop the caller's experiment and wait until its tables are deleted; a finished one is left as is."""
        record = self._find(name, owner)
        if record.task is not None and not record.task.done():
            record.task.cancel()
            await asyncio.wait([record.task], timeout=_CANCEL_WAIT_S)
        return self.get(name, owner)

    async def watch(self, name: str, owner: str, *, is_progress_off: bool) -> AsyncIterator[Event]:
        """The caller's experiment as a stream; see ``follow``."""
        async for item in self.follow(self._find(name, owner), is_progress_off=is_progress_off):
            yield item

    async def follow(self, record: _Record, *, is_progress_off: bool) -> AsyncIterator[Event]:
        """ExperimentAccepted, the events so far, live ones, and the result; ExperimentEndedError otherwise."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        if record.is_running:
            for past in record.events:
                queue.put_nowait(past)
            record.watchers.append(queue)
        else:
            queue.put_nowait(self._accepted(record.experiment))
            if record.experiment.HasField("result"):
                queue.put_nowait(event(record.experiment.experiment_id, result=record.experiment.result))
            queue.put_nowait(None)
        try:
            while (item := await queue.get()) is not None:
                if not (is_progress_off and item.WhichOneof("event") in _PROGRESS_EVENTS):
                    yield item
        finally:
            with contextlib.suppress(ValueError):
                record.watchers.remove(queue)
        if record.experiment.state != controller_service_pb2.EXPERIMENT_STATE_SUCCEEDED:
            raise ExperimentEndedError(record.experiment.error)

    async def _execute(self, record: _Record, validated: ValidatedExperiment) -> None:
        experiment_id = validated.experiment_id
        state = controller_service_pb2.EXPERIMENT_STATE_SUCCEEDED
        error = None
        try:
            await self._runner.execute(validated, lambda item: self._publish(record, item))
        except asyncio.CancelledError:
            if self._is_closing:
                state = controller_service_pb2.EXPERIMENT_STATE_FAILED
                error = _error(
                    "UNAVAILABLE",
                    "CONTROLLER_RESTARTED",
                    f"the controller stopped while experiment {experiment_id!r} ran; run it again",
                )
            else:
                state = controller_service_pb2.EXPERIMENT_STATE_CANCELLED
                message = f"experiment {experiment_id!r} was cancelled (CancelExperiment)"
                error = _error("CANCELLED", "EXPERIMENT_CANCELLED", message)
        except MipError as exc:
            state = controller_service_pb2.EXPERIMENT_STATE_FAILED
            error = _error(code_of(exc).name, exc.reason, exc.message)
        except Exception:
            log.exception("experiment failed unexpectedly")
            state = controller_service_pb2.EXPERIMENT_STATE_FAILED
            error = _error("INTERNAL", "INTERNAL", "internal error; see the controller's log")
        if record.is_running:  # a result already ended it; cleanup after it changes nothing
            self._end(record, state, error)
        record.events.clear()
        for queue in record.watchers:
            queue.put_nowait(None)
        await self._save(record.experiment)

    async def _save(self, experiment: Experiment) -> None:
        """Keep the experiment on disk; a full or read-only disk costs persistence, not the run."""
        try:
            async with self._writing:  # one write at a time: a run's last state never lands before its first
                await asyncio.to_thread(self._write, experiment)
        except OSError:
            log.exception("could not keep the experiment on disk")

    def _keep_now(self, experiment: Experiment) -> None:
        """Write a result to disk before anyone receives it, so a crash during cleanup cannot fail it.

        On the event loop (a few kilobytes, no fsync): the start was written before the run
        began, so no earlier write of this experiment can land after this one.
        """
        try:
            self._write(experiment)
        except OSError:
            log.exception("could not keep the experiment on disk")

    def _publish(self, record: _Record, item: Event) -> None:
        kind = item.WhichOneof("event")
        progress = record.experiment.progress
        if kind == "step_started":
            progress.step, progress.step_index = item.step_started.step, item.step_started.index
            progress.iteration = progress.total_iterations = 0
        elif kind == "step_progress":
            progress.iteration = item.step_progress.iteration
            progress.total_iterations = item.step_progress.total_iterations
        elif kind == "step_finished":
            progress.steps_done += 1
        elif kind == "result":  # succeeded, while its tables are being deleted
            record.experiment.result.CopyFrom(item.result)
            self._end(record, controller_service_pb2.EXPERIMENT_STATE_SUCCEEDED, None)
            self._keep_now(record.experiment)
        record.events.append(item)
        for queue in record.watchers:
            queue.put_nowait(item)

    def _end(self, record: _Record, state: int, error: controller_service_pb2.ExperimentError | None) -> None:
        experiment = record.experiment
        experiment.state = state  # type: ignore[assignment]
        if error is not None:
            experiment.error.CopyFrom(error)
        experiment.end_time.GetCurrentTime()
        experiment.expire_time.FromNanoseconds(experiment.end_time.ToNanoseconds() + int(self._retention_s * 1e9))

    def _find(self, name: str, owner: str) -> _Record:
        experiment_id = name.removeprefix(NAME_PREFIX)
        if not experiment_id:
            raise InvalidRequestError("name must be 'experiments/{experiment_id}'")
        check_experiment_id(experiment_id)
        record = self._records.get(experiment_id)
        if record is None or record.experiment.owner != owner:
            raise NotFoundError(
                f"no experiment {name!r} of yours; finished experiments are kept for "
                f"{self._retention_s:g} s (ListExperiments shows the ones there are)"
            )
        return record

    def _prune(self) -> None:
        now = time.time_ns()
        for experiment_id, record in list(self._records.items()):
            expires = record.experiment.expire_time
            if not record.is_running and expires.ToNanoseconds() and expires.ToNanoseconds() <= now:
                del self._records[experiment_id]
                with contextlib.suppress(FileNotFoundError):
                    (self._dir / f"{experiment_id}.binpb").unlink()

    def _write(self, experiment: Experiment) -> None:
        """Replace the experiment's file atomically (write, then rename)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{experiment.experiment_id}.binpb"
        partial = path.with_suffix(".partial")
        partial.write_bytes(experiment.SerializeToString())
        os.replace(partial, path)

    @staticmethod
    def _accepted(experiment: Experiment) -> Event:
        accepted = event(
            experiment.experiment_id,
            accepted=controller_service_pb2.ExperimentAccepted(
                name=experiment.name, step_count=len(experiment.algorithms)
            ),
        )
        accepted.time.CopyFrom(experiment.create_time)
        return accepted


def _error(code: str, reason: str, message: str) -> controller_service_pb2.ExperimentError:
    return controller_service_pb2.ExperimentError(code=code, reason=reason, message=message)


def _order(experiment: Experiment) -> tuple[int, str]:
    return experiment.create_time.ToNanoseconds(), experiment.experiment_id


def _token(position: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}:{position[1]}".encode()).decode()


def _parse_token(token: str) -> tuple[int, str]:
    try:
        nanos, _, experiment_id = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        return int(nanos), experiment_id
    except ValueError:
        raise InvalidRequestError(
            "page_token is not one this controller made; pass next_page_token of the previous page"
        ) from None
