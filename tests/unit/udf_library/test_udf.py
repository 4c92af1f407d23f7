"""The @udf decorator: specs read from signatures, shared/private outputs, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from udf_library import ArrayBundle, UdfInput, private, shared, udf, udf_spec


@udf(outputs=(shared("stats"), private("rows")))
def sample_udf(
    data: ArrayBundle,
    names: list[str],
    k: int,
    rate: float = 0.5,
    extra: ArrayBundle | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[ArrayBundle, ArrayBundle]:
    """Say why it exists."""
    return data, data


def test_spec_reads_inputs_from_the_signature() -> None:
    # Arrange / Act
    spec = udf_spec(sample_udf)
    # Assert
    assert spec.inputs == (
        UdfInput("data", "table", is_table=True, is_optional=False),
        UdfInput("names", "list[text]", is_table=False, is_optional=False),
        UdfInput("k", "int", is_table=False, is_optional=False),
        UdfInput("rate", "real", is_table=False, is_optional=True),
        UdfInput("extra", "table", is_table=True, is_optional=True),
        UdfInput("options", "json", is_table=False, is_optional=True),
    )
    assert spec.table_inputs == ["data", "extra"]


def test_spec_is_named_after_module_without_udfs_suffix() -> None:
    # Arrange / Act
    spec = udf_spec(sample_udf)
    # Assert
    assert spec.name == "test_udf.sample_udf"
    assert spec.doc == "Say why it exists."


def test_outputs_keep_their_sharing() -> None:
    # Arrange / Act
    outputs = udf_spec(sample_udf).outputs
    # Assert
    assert [(o.name, o.shared) for o in outputs] == [("stats", True), ("rows", False)]


def test_signature_text_marks_optional_inputs_and_shared_outputs() -> None:
    # Arrange / Act
    text = udf_spec(sample_udf).signature_text()
    # Assert
    assert text.startswith("test_udf.sample_udf(data: table, names: list[text], k: int, rate: real?")
    assert text.endswith("-> stats (shared), rows")


def test_decorated_function_still_runs() -> None:
    # Arrange
    data = ArrayBundle({"a": [1]})
    # Act
    first, second = sample_udf(data, ["a"], 1)
    # Assert
    assert first is data
    assert second is data


def test_outputs_default_to_one_private_result() -> None:
    # Arrange
    @udf()
    def plain(data: ArrayBundle) -> ArrayBundle:
        return data

    # Act / Assert
    assert [(o.name, o.shared) for o in udf_spec(plain).outputs] == [("result", False)]


def test_a_udf_needs_an_output() -> None:
    # Act / Assert
    with pytest.raises(TypeError, match="at least one output"):
        udf(outputs=())


def test_output_names_must_be_unique() -> None:
    # Act / Assert
    with pytest.raises(TypeError, match="unique"):
        udf(outputs=(shared("a"), private("a")))


def test_unannotated_parameter_is_rejected() -> None:
    # Arrange
    def bad(data):  # type: ignore[no-untyped-def]
        return data

    # Act / Assert
    with pytest.raises(TypeError, match="needs a type annotation"):
        udf()(bad)


def test_unsupported_parameter_type_is_rejected() -> None:
    # Arrange
    def bad(data: ArrayBundle, when: complex) -> ArrayBundle:
        return data

    # Act / Assert
    with pytest.raises(TypeError, match="unsupported type"):
        udf()(bad)


def test_star_args_are_rejected() -> None:
    # Arrange
    def bad(*tables: ArrayBundle) -> ArrayBundle:
        return tables[0]

    # Act / Assert
    with pytest.raises(TypeError, match="must be named"):
        udf()(bad)


def test_udf_spec_of_a_plain_function_is_a_clear_error() -> None:
    # Arrange
    def plain() -> None:
        return None

    # Act / Assert
    with pytest.raises(TypeError, match="not decorated with @udf"):
        udf_spec(plain)
