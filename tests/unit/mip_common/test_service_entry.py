"""A server process given a config it cannot read says why in one line and exits 2, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["mip_controller"], ["mip_gateway"], ["mip_node", "run"]])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("[controller\nlog_level = ", "is not valid TOML"),
        ("[something_else]\n", "has no ["),
    ],
)
def test_unreadable_config_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], content: str | None, expected: str
) -> None:
    # Arrange
    config = tmp_path / "service.toml"
    if content is not None:
        config.write_text(content)

    # Act
    finished = subprocess.run(
        [sys.executable, "-m", command[0], "--config", str(config), *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Assert
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    assert expected in finished.stderr
    assert str(config) in finished.stderr
