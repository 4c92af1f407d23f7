"""Node health as the controller sees it: heartbeats polled on an interval, states with history."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from algorithm_flows import InputData, LocalTables
from mip_common._proto import common_pb2, controller_service_pb2, node_service_pb2
from mip_common.errors import MipError, NodeUnavailableError
from mip_common.logs import EXPERIMENT_ID
from mip_common.metrics import set_node_state
from mip_common.version import VERSION
from mip_controller.cleanup import CleanupJournal
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime
from udf_library import health_udfs

__all__ = ["HealthMonitor"]

log = logging.getLogger(__name__)

_SLOW_HEARTBEAT_S = 1.0


@dataclass
class _NodeState:
    state: int = controller_service_pb2.NODE_STATE_UNSPECIFIED
    since: float = field(default_factory=time.time)
    last_error: str = ""
    heartbeat: node_service_pb2.HeartbeatResponse | None = None


class HealthMonitor:
    """Polls every node's heartbeat; UP when it answers, DEGRADED when slow, DOWN when not."""

    def __init__(
        self,
        global_node: NodeClient,
        local_nodes: Sequence[NodeClient],
        interval_s: float,
        on_change: Callable[[bool], None] = lambda _: None,
        *,
        journal: CleanupJournal | None = None,
        is_running: Callable[[str], bool] = lambda _: False,
        canary_interval_s: float = 0.0,
    ) -> None:
        self._journal = journal
        self._is_running = is_running
        self._canary_interval_s = canary_interval_s
        self._canary_status = ""
        self._canary_time = 0.0
        self._nodes = [global_node, *local_nodes]
        self._roles = {global_node.node_id: common_pb2.NODE_ROLE_GLOBAL} | {
            n.node_id: common_pb2.NODE_ROLE_LOCAL for n in local_nodes
        }
        self._interval_s = interval_s
        self._states = {n.node_id: _NodeState() for n in self._nodes}
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin polling in the background."""
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop polling."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def poll(self) -> None:
        """Ask every node for a heartbeat once."""
        await asyncio.gather(*(self._poll_one(n) for n in self._nodes))
        global_state = self._states[self._nodes[0].node_id].state
        self._on_change(global_state != controller_service_pb2.NODE_STATE_DOWN)

    async def _loop(self) -> None:
        while True:
            await self.poll()
            if self._canary_interval_s > 0 and time.time() - self._canary_time >= self._canary_interval_s:
                await self.run_canary()
            await asyncio.sleep(self._interval_s)

    async def run_canary(self) -> str:
        """A tiny experiment through the global node and every local node that is not DOWN."""
        up = [n for n in self._nodes[1:] if self._states[n.node_id].state != controller_service_pb2.NODE_STATE_DOWN]
        experiment_id = f"canary-{uuid.uuid4().hex[:12]}"
        token = EXPERIMENT_ID.set(experiment_id)
        try:
            if not up:
                raise NodeUnavailableError("no local node is up")
            runtime = NodeRuntime(
                experiment_id=experiment_id,
                deadline=time.monotonic() + max(5.0, self._interval_s),
                global_node=self._nodes[0],
                local_nodes={n.node_id: n for n in up},
                data=LocalTables(dict.fromkeys((n.node_id for n in up), "")),
                inputdata=InputData("", ()),
                variables={},
                on_progress=lambda _: None,
            )
            if self._journal is not None:
                await asyncio.to_thread(self._journal.begin, experiment_id, [n.node_id for n in [self._nodes[0], *up]])
            pings = await runtime.execute_udf_locals(health_udfs.local_ping)
            count = await runtime.execute_udf_global(
                health_udfs.global_count, pings=await runtime.create_remote_and_merge_global(pings)
            )
            answered = int((await runtime.read_global(count))["answered"][0])
            self._canary_status = "ok" if answered == len(up) else f"{answered} of {len(up)} local nodes answered"
        except MipError as exc:
            self._canary_status = f"failed: {exc.message}"
        finally:
            self._canary_time = time.time()
            if self._journal is not None:
                await asyncio.gather(*(self._journal.clean(n, [experiment_id]) for n in self._nodes))
            EXPERIMENT_ID.reset(token)
        log.info("canary", extra={"fields": {"status": self._canary_status}})
        return self._canary_status

    async def _poll_one(self, node: NodeClient) -> None:
        started = time.monotonic()
        state = self._states[node.node_id]
        try:
            state.heartbeat = await node.heartbeat(time.monotonic() + max(2.0, self._interval_s))
            elapsed = time.monotonic() - started
            is_healthy = state.heartbeat.database_status == "ok" and elapsed < _SLOW_HEARTBEAT_S
            new = controller_service_pb2.NODE_STATE_UP if is_healthy else controller_service_pb2.NODE_STATE_DEGRADED
            if not is_healthy:
                state.last_error = (
                    f"slow heartbeat ({elapsed:.2f} s)"
                    if elapsed >= _SLOW_HEARTBEAT_S
                    else f"database: {state.heartbeat.database_status}"
                )
        except MipError as exc:
            new = controller_service_pb2.NODE_STATE_DOWN
            state.last_error = exc.message
        if new != controller_service_pb2.NODE_STATE_DOWN and self._journal is not None:
            leftovers = [e for e in self._journal.pending(node.node_id) if not self._is_running(e)]
            if leftovers:
                await self._journal.clean(node, leftovers)
        if new != state.state:
            log.info(
                "node state changed",
                extra={
                    "fields": {
                        "node": node.node_id,
                        "state": controller_service_pb2.NodeState.Name(new),
                    }
                },
            )
            state.state = new
            set_node_state(
                node.node_id, _state_name(new), [_state_name(v) for v in controller_service_pb2.NodeState.values()]
            )
            state.since = time.time()

    async def report(self) -> controller_service_pb2.HealthReportResponse:
        """Every node's state, latency percentiles and last heartbeat."""
        response = controller_service_pb2.HealthReportResponse(version=VERSION, canary_status=self._canary_status)
        if self._canary_time:
            response.canary_time.FromSeconds(int(self._canary_time))
        for node in self._nodes:
            state = self._states[node.node_id]
            health = response.nodes.add(
                node_id=node.node_id,
                address=node.address,
                role=self._roles[node.node_id],  # type: ignore[arg-type]
                state=state.state,  # type: ignore[arg-type]
                last_error=state.last_error,
            )
            health.state_since.FromSeconds(int(state.since))
            latencies = sorted(node.latencies_s)
            if latencies:
                health.latency_p50.FromNanoseconds(int(statistics.median(latencies) * 1e9))
                health.latency_p99.FromNanoseconds(
                    int(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1e9)
                )
            if state.heartbeat is not None:
                beat = state.heartbeat
                health.heartbeat.version = beat.version
                health.heartbeat.uptime.CopyFrom(beat.uptime)
                health.heartbeat.running_tasks = beat.running_tasks
                health.heartbeat.queued_tasks = beat.queued_tasks
                health.heartbeat.database_status = beat.database_status
                health.heartbeat.datasets.extend(f"{d.data_model}/{d.code}" for d in beat.datasets)
                health.heartbeat.free_disk_bytes = beat.free_disk_bytes
        return response


def _state_name(state: int) -> str:
    """``NODE_STATE_UP`` as ``up``, the label of the mip_node_state metric."""
    return controller_service_pb2.NodeState.Name(state).removeprefix("NODE_STATE_").lower()  # type: ignore[arg-type]
