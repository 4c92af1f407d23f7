"""The cleanup journal on disk: what is still to delete survives a restart, what is done goes."""

from __future__ import annotations

from pathlib import Path

from mip_controller.cleanup import CleanupJournal


def test_an_experiment_crossed_off_everywhere_is_gone_after_a_restart(tmp_path: Path) -> None:
    journal = CleanupJournal(tmp_path / "journal.json")
    journal.begin("e1", ["a", "b"])
    journal.done("e1", "a")
    journal.done("e1", "b")

    reopened = CleanupJournal(tmp_path / "journal.json")

    assert (reopened.pending("a"), reopened.pending("b")) == ([], [])


def test_an_experiment_still_pending_on_a_node_survives_a_restart(tmp_path: Path) -> None:
    journal = CleanupJournal(tmp_path / "journal.json")
    journal.begin("e1", ["a"])
    journal.begin("e2", ["a", "b"])
    journal.done("e1", "a")
    journal.done("e2", "a")

    reopened = CleanupJournal(tmp_path / "journal.json")

    assert reopened.pending("b") == ["e2"]
