"""The node's audit log: append-only JSON lines that survive reopening."""

from __future__ import annotations

import json
from pathlib import Path

from mip_common.auth import CALLER
from mip_common.logs import EXPERIMENT_ID
from mip_node.audit import AuditLog, read_audit


def test_record_appends_one_json_line_per_event(tmp_path: Path) -> None:
    # Arrange
    audit = AuditLog(tmp_path / "audit.jsonl", node_id="local1")

    # Act
    audit.record("udf", experiment_id="exp1", caller="cert:controller", udf="kmeans.local_calc", rows=12)
    audit.record("table_sent", experiment_id="exp1", caller="cert:controller", table="t1", rows=3, bytes=512)
    audit.close()

    # Assert
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["udf", "table_sent"]
    assert events[0]["node_id"] == "local1"
    assert events[0]["udf"] == "kmeans.local_calc"
    assert events[1]["bytes"] == 512
    assert events[1]["time"].endswith("Z")


def test_reopening_appends_and_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path)
    first.record("data_view", experiment_id="exp1", caller="cert:controller", rows=100)
    first.close()

    second = AuditLog(path)
    second.record("udf", experiment_id="exp2", caller="cert:controller")
    second.close()

    assert [e["experiment_id"] for e in read_audit(path)] == ["exp1", "exp2"]


def test_experiment_and_caller_come_from_the_current_call(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", is_fsync=False)
    experiment_token = EXPERIMENT_ID.set("exp9")
    caller_token = CALLER.set("cert:controller")
    try:
        audit.record("udf", udf="pearson.local_sums")
    finally:
        EXPERIMENT_ID.reset(experiment_token)
        CALLER.reset(caller_token)
    audit.close()

    (event,) = read_audit(tmp_path / "audit.jsonl")
    assert event["experiment_id"] == "exp9"
    assert event["caller"] == "cert:controller"


def test_read_filters_by_experiment_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    for experiment_id in ("a", "b", "a"):
        audit.record("udf", experiment_id=experiment_id, caller="")
    audit.close()
    with path.open("a") as out:
        out.write('{"event": "udf", "experim')  # a crash mid-write

    assert len(list(read_audit(path, experiment_id="a"))) == 2
    assert len(list(read_audit(path))) == 3


def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_audit(tmp_path / "none.jsonl")) == []


def test_record_after_close_is_dropped_not_raised(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.close()
    audit.record("udf", experiment_id="late", caller="")
    assert list(read_audit(tmp_path / "audit.jsonl")) == []
