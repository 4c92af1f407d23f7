"""Freed heap memory goes back to the operating system when asked."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mip_common.memory import release_free_memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


def test_released_memory_leaves_the_process() -> None:
    # Arrange: 200 MB of 1 kB objects allocated and freed on a thread (its own glibc arena),
    # a few kept alive so the arena cannot shrink by itself
    kept: list[list[bytes]] = []

    def churn() -> None:
        objects = [bytes(1000 + i % 50) for i in range(200_000)]
        kept.append(objects[::100])

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    before = _rss_mb()

    # Act
    released = release_free_memory()

    # Assert
    assert released
    assert _rss_mb() < before - 100
