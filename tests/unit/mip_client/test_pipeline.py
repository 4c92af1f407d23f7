"""Experiment files for `mip pipeline`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mip_client.pipeline import load_pipeline, read_json_file

YAML = """
inputdata: {data_model: "demo:1.0", datasets: [a, b]}
timeout_seconds: 120
steps:
  - name: pca
    algorithm: pca_with_transformation
    inputdata: {y: [v1, v2]}
  - name: clusters
    algorithm: kmeans
    input_from: pca.transformed
    inputdata: {y: "v1,v2"}
    parameters: {numOfClusters: 3}
"""


def test_yaml_steps_inherit_top_level_inputdata(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "experiment.yaml"
    path.write_text(YAML)

    # Act
    pipeline = load_pipeline(path)

    # Assert
    first, second = pipeline.steps
    assert (first.name, first.algorithm, list(first.inputdata.datasets)) == (
        "pca",
        "pca_with_transformation",
        ["a", "b"],
    )
    assert second.input_from == "pca.transformed"
    assert list(second.inputdata.y) == ["v1", "v2"]
    assert second.parameters["numOfClusters"] == 3
    assert pipeline.timeout_s == 120


def test_json_file_is_read_too(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "experiment.json"
    path.write_text(
        '{"steps": [{"algorithm": "pca", "inputdata": {"data_model": "d:1", "datasets": ["a"], "y": ["v"]}}]}'
    )

    # Act
    pipeline = load_pipeline(path)

    # Assert
    assert [s.algorithm for s in pipeline.steps] == ["pca"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: []", "non-empty 'steps'"),
        ("steps: [{algorithm: pca, inputdata: {y: [v]}}]", "needs inputdata data_model and datasets"),
        ("steps: [{algorithm: pca, colour: red}]", "unknown keys ['colour']"),
        ("steps: [{name: x}]", "at least 'algorithm'"),
        ("steps: [", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    # Arrange
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    # Act / Assert
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_pipeline(path)


def test_bad_json_names_the_file_and_position(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "request.json"
    path.write_text("{bad")

    # Act / Assert
    with pytest.raises(ValueError, match=r"request\.json is not valid JSON: .* line 1, column 2"):
        read_json_file(path)
