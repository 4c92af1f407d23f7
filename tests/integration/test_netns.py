"""A federation across Linux network namespaces: each process on its own host address (10.200.0.x).

The test makes its own namespaces: a hub holding a bridge, and one namespace per process
(global node, 3 local nodes, controller, client) joined to the hub by a veth pair. Nothing is
added to the machine's own namespace, and all traffic stays on this machine. Needs root and
``ip netns``; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mip_client.demo_data import write_demo_federation

pytestmark = pytest.mark.slow

SUBNET = "10.200.0"
HOSTS = {"global": 2, "local1": 3, "local2": 4, "local3": 5, "controller": 10, "client": 20}
PORT = 50051


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _netns_possible() -> str:
    if shutil.which("ip") is None:
        return "the `ip` command is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"mipprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as exc:
        return f"`ip netns add` failed: {exc.stderr.decode(errors='replace').strip()}"
    _ip("netns", "del", probe)
    return ""


@dataclass
class Namespaces:
    """The namespaces made for one test run, and the processes started in them."""

    prefix: str = field(default_factory=lambda: f"mip{uuid.uuid4().hex[:5]}")
    names: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def create(self) -> None:
        hub = self.ns("hub")
        _ip("netns", "add", hub)
        self.names.append(hub)
        _ip("-n", hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", hub, "link", "set", "br0", "up")
        for index, (host, last_octet) in enumerate(HOSTS.items()):
            ns = self.ns(host)
            _ip("netns", "add", ns)
            self.names.append(ns)
            _ip("-n", hub, "link", "add", f"v{index}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", hub, "link", "set", f"v{index}", "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{last_octet}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def start(self, host: str, module: str, config: Path, log: Path) -> None:
        with log.open("ab") as out:
            self.processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.ns(host), sys.executable, "-m", module, "--config", str(config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def run(self, host: str, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(host), *command], capture_output=True, text=True, timeout=180
        )

    def destroy(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _address(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}:{PORT}"


def _toml(table: str, settings: dict[str, object]) -> str:
    return f"[{table}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())


def _wait_for(port_file: Path, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return
        time.sleep(0.1)
    raise AssertionError(f"{port_file.stem} did not start; its log:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def netns_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Namespaces, Path]]:
    if why := _netns_possible():
        pytest.skip(f"cannot run the multi-host test: {why}")
    workdir = tmp_path_factory.mktemp("netns")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=100, seed=3)
    spaces = Namespaces()
    try:
        spaces.create()
        for node_id in ["global", "local1", "local2", "local3"]:
            settings: dict[str, object] = {
                "node_id": node_id,
                "role": "global" if node_id == "global" else "local",
                "listen_address": _address(node_id),
                "data_dir": str(workdir / node_id),
                "data_folders": [] if node_id == "global" else [str(folders[int(node_id[-1]) - 1])],
                "port_file": str(workdir / f"{node_id}.port"),
                "log_json": True,
                "min_cell_rows": 1,  # about addresses, not the cell rule: k-means' small clusters may pass
            }
            (workdir / f"{node_id}.toml").write_text(_toml("node", settings))
            spaces.start(node_id, "mip_node", workdir / f"{node_id}.toml", workdir / f"{node_id}.log")
        for node_id in ["global", "local1", "local2", "local3"]:
            _wait_for(workdir / f"{node_id}.port", workdir / f"{node_id}.log")
        controller = {
            "global_node": f"global@{_address('global')}",
            "local_nodes": [f"{n}@{_address(n)}" for n in ["local1", "local2", "local3"]],
            "listen_address": _address("controller"),
            "port_file": str(workdir / "controller.port"),
            "log_json": True,
            "state_dir": str(workdir / "controller-state"),
        }
        (workdir / "controller.toml").write_text(_toml("controller", controller))
        spaces.start("controller", "mip_controller", workdir / "controller.toml", workdir / "controller.log")
        _wait_for(workdir / "controller.port", workdir / "controller.log")
        yield spaces, workdir
    finally:
        spaces.destroy()


def test_kmeans_across_hosts(netns_federation: tuple[Namespaces, Path]) -> None:
    # Arrange
    spaces, _ = netns_federation
    command = [
        sys.executable, "-c", "from mip_client.cli import main; main()", "run", "kmeans",
        "--controller", _address("controller"), "--data-model", "demo:1.0",
        "--datasets", "demo_site1_a,demo_site2_a,demo_site3_a", "-y", "hippocampus,entorhinal",
        "--param", "numOfClusters=3", "--json",
    ]  # fmt: skip

    # Act
    finished = spaces.run("client", *command)

    # Assert
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout)
    assert len(outcome["result"]["centroids"]) == 3
    assert sorted(outcome["participants"]) == ["local1", "local2", "local3"]


def test_nodes_listen_on_their_own_address_and_log_json(netns_federation: tuple[Namespaces, Path]) -> None:
    # Arrange
    _, workdir = netns_federation

    # Act
    events = [json.loads(line) for line in (workdir / "local2.log").read_text().splitlines() if line.startswith("{")]

    # Assert
    serving = [e for e in events if e["event"] == "node serving"]
    assert serving
    assert serving[0]["address"] == _address("local2")
    assert all(e["node_id"] == "local2" for e in events)
    assert any(e["experiment_id"] for e in events if e["event"] == "udf ran")
