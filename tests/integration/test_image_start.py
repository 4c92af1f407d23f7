"""The container image's start, without Docker: the entrypoint as the image runs it.

The image installs mip-mesh root-owned and runs it as uid 10001; state must go to the
volumes (``/data``, ``/var/lib/mip-mesh``), never next to the code.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
SERVICE_UID = 10001
PACKAGES = ["mip_common", "mip_node", "mip_controller", "algorithm_flows", "udf_library"]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("image")
    folders = write_demo_federation(workdir / "data", num_locals=2, rows_per_dataset=60, seed=3)
    with LocalFederation(workdir, [[f] for f in folders]) as federation:
        yield federation


def _controller_env(nodes: LocalFederation, **extra: str) -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MIP_ROLE": "controller",
        "MIP_CONFIG": "/nonexistent/controller.toml",
        "MIP_CONTROLLER_LISTEN_ADDRESS": "127.0.0.1:0",
        "MIP_CONTROLLER_GLOBAL_NODE": f"global@{nodes.node_address('global')}",
        "MIP_CONTROLLER_LOCAL_NODES": ",".join(f"{n}@{nodes.node_address(n)}" for n in nodes.local_ids),
        "MIP_CONTROLLER_CANARY_INTERVAL_S": "0",
        **extra,
    }


def test_controller_refuses_to_start_without_a_writable_state_dir(nodes: LocalFederation, tmp_path: Path) -> None:
    # Arrange: state_dir below a regular file cannot be created, whoever runs it
    (tmp_path / "file").write_text("")
    env = _controller_env(nodes, MIP_CONTROLLER_STATE_DIR=str(tmp_path / "file" / "state"))

    # Act
    finished = subprocess.run(["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60)

    # Assert
    assert finished.returncode == 2
    assert "state_dir" in finished.stderr
    assert "mount a writable volume there" in finished.stderr


def _can_run_as_service_user() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import grpc"], user=SERVICE_UID, capture_output=True, check=False
        )
    except PermissionError:
        return False
    return probe.returncode == 0


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory the service user can reach (pytest's own are private to root)."""
    with tempfile.TemporaryDirectory(prefix="mip-image-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def test_controller_runs_as_the_service_user_from_a_read_only_install(nodes: LocalFederation, open_tmp: Path) -> None:
    # Arrange: a root-owned, read-only copy of the code as the working directory, a state volume of the user's
    if not _can_run_as_service_user():
        pytest.skip("needs root, and a Python interpreter that uid 10001 can run (as in the image)")
    install = open_tmp / "opt" / "mip-mesh"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, install / package, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [install, *install.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    volume = open_tmp / "var-lib-mip-mesh"
    volume.mkdir()
    os.chown(volume, SERVICE_UID, SERVICE_UID)
    port_file = volume / "port"
    env = _controller_env(
        nodes,
        PYTHONPATH=str(install),
        MIP_CONTROLLER_STATE_DIR=str(volume / "controller"),
        MIP_CONTROLLER_PORT_FILE=str(port_file),
    )
    process = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, cwd=install, user=SERVICE_UID)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "the controller exited"
            assert time.monotonic() < deadline, "the controller did not start"
            time.sleep(0.1)

        # Act
        with Controller(f"127.0.0.1:{port_file.read_text().strip()}") as controller:
            outcome = controller.run(
                "ttest_onesample", data_model="demo:1.0", datasets=["demo_site1_a"], y=["hippocampus"]
            )

        # Assert
        assert outcome.result["n_obs"] > 0
        assert (volume / "controller" / "pending_cleanups.json").exists()
    finally:
        process.terminate()
        process.wait(10)
