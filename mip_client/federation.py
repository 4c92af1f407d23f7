"""A local federation of real processes (1 global, N locals, a controller) on 127.0.0.1.

Used by ``mip demo``, ``mip federation up/down`` and the integration tests, so all three
start the very same processes.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from mip_common.certs import CertFiles, create_federation_certs
from mip_common.lifetime import PARENT_ENV

__all__ = ["FederationError", "LocalFederation", "ProcessInfo", "monetdb_node_settings", "split_data_folder"]

_START_TIMEOUT_S = 60.0
STATE_FILE = "federation.json"


class FederationError(RuntimeError):
    """A federation process that did not start or stop as expected."""


@dataclass
class ProcessInfo:
    """One process of the federation."""

    name: str
    pid: int
    config: str
    log: str
    address: str = ""


@dataclass
class LocalFederation:
    """Starts and stops the processes of a federation in ``workdir``."""

    workdir: Path
    local_data: Sequence[Sequence[Path]] = ()
    """Per local node, the data-model folders it loads at start."""
    node_settings: dict[str, object] = field(default_factory=dict)
    controller_settings: dict[str, object] = field(default_factory=dict)
    tls: bool = False
    """Run with TLS: a development CA in ``workdir/certs``, mTLS between controller and nodes,
    and client certificates (identity "client") for clients of the controller."""
    is_bound_to_launcher: bool = True
    """Processes die with the process that started them (not so for `mip federation up`)."""
    is_gateway: bool = False
    """Also start mip-gateway, the MIP HTTP/JSON API, in front of the controller."""
    gateway_settings: dict[str, object] = field(default_factory=dict)
    processes: dict[str, ProcessInfo] = field(default_factory=dict)
    _popen: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def controller_address(self) -> str:
        """host:port of the controller."""
        return self.processes["controller"].address

    def node_address(self, node_id: str) -> str:
        """host:port of a node."""
        return self.processes[node_id].address

    @property
    def local_ids(self) -> list[str]:
        """Ids of the local nodes."""
        return [f"local{i + 1}" for i in range(len(self.local_data))]

    def start(self) -> LocalFederation:
        """Start every node, then the controller; return once all serve."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tls:
            create_federation_certs(self.certs_dir, ["global", *self.local_ids, "controller", "client"])
        for node_id, role, folders in [
            ("global", "global", ()),
            *[(node_id, "local", folders) for node_id, folders in zip(self.local_ids, self.local_data, strict=True)],
        ]:
            self._spawn_node(node_id, role, [str(f) for f in folders])
        for node_id in ["global", *self.local_ids]:
            self._wait_ready(node_id)
        self._spawn_controller()
        self._wait_ready("controller")
        if self.is_gateway:
            self._spawn_gateway()
            self._wait_ready("gateway")
        self._save_state()
        return self

    def _spawn_node(self, node_id: str, role: str, folders: list[str]) -> None:
        settings = (
            {
                "node_id": node_id,
                "role": role,
                "listen_address": "127.0.0.1:0",
                "data_dir": str(self.workdir / node_id),
                "data_folders": folders,
                "port_file": str(self.workdir / f"{node_id}.port"),
            }
            | self._tls_settings(node_id, {"allowed_client_identities": ["controller"]})
            | self.node_settings
        )
        self._spawn(node_id, "mip_node", "node", settings)

    def _spawn_controller(self) -> None:
        settings = (
            {
                "listen_address": "127.0.0.1:0",
                "global_node": f"global@{self.node_address('global')}",
                "local_nodes": [f"{n}@{self.node_address(n)}" for n in self.local_ids],
                "port_file": str(self.workdir / "controller.port"),
                "state_dir": str(self.workdir / "controller-state"),
            }
            | self._tls_settings("controller", {"client_auth": "mtls", "allowed_client_identities": ["client"]})
            | self.controller_settings
        )
        self._spawn("controller", "mip_controller", "controller", settings)

    def _spawn_gateway(self) -> None:
        settings: dict[str, object] = {
            "controller": self.controller_address,
            "listen_address": "127.0.0.1:0",
            "port_file": str(self.workdir / "gateway.port"),
        }
        if self.tls:
            files = self.cert_files("client")
            settings |= {"tls_ca_file": str(files.ca), "tls_cert_file": str(files.cert), "tls_key_file": str(files.key)}
        self._spawn("gateway", "mip_gateway", "gateway", settings | self.gateway_settings)

    @property
    def gateway_url(self) -> str:
        """http://host:port of mip-gateway (started with ``is_gateway``)."""
        return f"http://{self.processes['gateway'].address}"

    @property
    def certs_dir(self) -> Path:
        """Where ``tls=True`` writes the development CA and every certificate."""
        return self.workdir / "certs"

    def cert_files(self, identity: str = "client") -> CertFiles:
        """The certificate, key and CA files of ``identity`` (``"client"`` for callers of the controller)."""
        return CertFiles(
            self.certs_dir / f"{identity}.pem", self.certs_dir / f"{identity}.key", self.certs_dir / "ca.pem"
        )

    def _tls_settings(self, identity: str, extra: dict[str, object]) -> dict[str, object]:
        if not self.tls:
            return {}
        files = self.cert_files(identity)
        return {"tls_cert_file": str(files.cert), "tls_key_file": str(files.key), "tls_ca_file": str(files.ca)} | extra

    def _spawn(self, name: str, module: str, table: str, settings: dict[str, object]) -> None:
        config = self.workdir / f"{name}.toml"
        config.write_text(_toml(table, settings))
        port_file = Path(str(settings["port_file"]))
        port_file.unlink(missing_ok=True)
        log = self.workdir / f"{name}.log"
        self.processes[name] = ProcessInfo(name, 0, str(config), str(log))
        self._launch(name, module)

    def _launch(self, name: str, module: str) -> None:
        """Start ``python -m module --config`` for a recorded process, its output appended to its log."""
        info = self.processes[name]
        with Path(info.log).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "--config", info.config],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._environment(),
                start_new_session=True,
            )
        self._popen[name] = process
        info.pid = process.pid

    def _environment(self) -> dict[str, str]:
        bound = {PARENT_ENV: str(os.getpid())} if self.is_bound_to_launcher else {}
        return {k: v for k, v in os.environ.items() if k != PARENT_ENV} | {"PYTHONUNBUFFERED": "1"} | bound

    def _wait_ready(self, name: str) -> None:
        port_file = self.workdir / f"{name}.port"
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            port = port_file.read_text().strip() if port_file.exists() else ""
            if port:
                self.processes[name].address = f"127.0.0.1:{port}"
                return
            process = self._popen.get(name)
            if process is not None and process.poll() is not None:
                raise FederationError(
                    f"{name} exited with {process.returncode}; see {self.processes[name].log}:\n"
                    + _tail(self.processes[name].log)
                )
            time.sleep(0.05)
        raise FederationError(f"{name} did not start within {_START_TIMEOUT_S:.0f} s; see {self.processes[name].log}")

    def restart(self, name: str) -> None:
        """Stop one process and start it again with the same config, on the same address."""
        self.stop_process(name)
        info = self.processes[name]
        _pin_listen_address(Path(info.config), info.address)
        (self.workdir / f"{name}.port").unlink(missing_ok=True)
        self._launch(name, {"controller": "mip_controller", "gateway": "mip_gateway"}.get(name, "mip_node"))
        self._wait_ready(name)
        self._save_state()

    # --- fault injection: what tests do to a process ---------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL a process: it dies at once, as in a crash or power loss."""
        _signal(self.processes[name].pid, signal.SIGKILL)
        process = self._popen.pop(name, None)
        if process is not None:
            process.wait(timeout=10)

    def freeze(self, name: str) -> None:
        """SIGSTOP a process: it keeps its sockets open and answers nothing, like a hung host."""
        _signal(self.processes[name].pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """SIGCONT a frozen process."""
        _signal(self.processes[name].pid, signal.SIGCONT)

    def start_again(self, name: str) -> None:
        """Start a killed process again with its config; a node keeps its address."""
        self.restart(name)

    def stop_process(self, name: str, *, timeout_s: float = 10.0) -> None:
        """SIGTERM one process, SIGKILL it if it has not exited within ``timeout_s``."""
        _terminate(self.processes[name].pid, timeout_s)
        self._popen.pop(name, None)

    def stop(self) -> None:
        """Stop the gateway and the controller, then every node at once; leave no process behind.

        Nodes stop in parallel, so stopping takes one node's grace time, not their sum.
        """
        for front in ["gateway", "controller"]:
            if front in self.processes:
                self.stop_process(front)
        nodes = list(self.processes)
        with ThreadPoolExecutor(max(1, len(nodes))) as pool:
            list(pool.map(self.stop_process, nodes))
        (self.workdir / STATE_FILE).unlink(missing_ok=True)

    def _save_state(self) -> None:
        state = {name: asdict(info) for name, info in self.processes.items()}
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @staticmethod
    def is_recorded(workdir: Path) -> bool:
        """Whether ``start`` recorded a federation in ``workdir`` that was not stopped since."""
        return (workdir / STATE_FILE).exists()

    @classmethod
    def from_state(cls, workdir: Path) -> LocalFederation:
        """The federation recorded in ``workdir`` by ``start``, for ``mip federation down``."""
        path = workdir / STATE_FILE
        if not path.exists():
            raise FederationError(f"no running federation recorded in {workdir}")
        federation = cls(workdir)
        federation.processes = {k: ProcessInfo(**v) for k, v in json.loads(path.read_text()).items()}
        return federation

    def __enter__(self) -> LocalFederation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def monetdb_node_settings(url: str) -> dict[str, object]:
    """Node settings that store in the MonetDB database of ``monetdb://user:password@host:port/database``.

    Every node keeps its tables in its own schema there (``mip_<node_id>``), so one database
    serves the whole federation.
    """
    parsed = urlparse(url)
    try:
        port = parsed.port or 50000
    except ValueError:
        port = -1
    database = parsed.path.strip("/")
    if parsed.scheme != "monetdb" or not parsed.hostname or not database or "/" in database or port < 0:
        raise ValueError(f"--monetdb {url!r} must look like monetdb://user:password@host:port/database")
    return {
        "db_backend": "monetdb",
        "monetdb_host": parsed.hostname,
        "monetdb_port": port,
        "monetdb_database": database,
        "monetdb_user": unquote(parsed.username or "monetdb"),
        "monetdb_password": unquote(parsed.password or "monetdb"),
    }


def split_data_folder(
    folder: Path, out_dir: Path, num_locals: int, exclude_globs: Sequence[str] = ("*-test.csv",)
) -> list[Path]:
    """Deal a data-model folder's CSVs to ``num_locals`` folders of links (nothing is copied).

    The ``*0.csv`` files go to the first local node, the others round-robin in name order to
    the rest, as in the MIP reference deployment.
    """
    csvs = sorted(p for p in folder.glob("*.csv") if not any(fnmatch.fnmatch(p.name, g) for g in exclude_globs))
    targets = [out_dir / f"local{i + 1}" / folder.name for i in range(num_locals)]
    for target in targets:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        (target / "CDEsMetadata.json").symlink_to((folder / "CDEsMetadata.json").resolve())
    first = [p for p in csvs if p.stem.endswith("0")]
    rest = [p for p in csvs if not p.stem.endswith("0")]
    assignments = [(targets[0], p) for p in first]
    others = targets[1:] or targets
    assignments += [(others[i % len(others)], p) for i, p in enumerate(rest)]
    for target, path in assignments:
        (target / path.name).symlink_to(path.resolve())
    return targets


def _pin_listen_address(config: Path, address: str) -> None:
    """Make a restarted process listen where it listened before, so its peers find it again."""
    if address:
        text = re.sub(r'(?m)^listen_address = ".*"$', f'listen_address = "{address}"', config.read_text())
        config.write_text(text)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.killpg(pid, signal.SIGCONT)
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            finished = pid if not _alive(pid) else 0
        if finished:
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _toml(table: str, settings: dict[str, object]) -> str:
    lines = [f"[{table}]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
