"""PCA after per-variable transformations (log, exp, center, standardize), as scikit-learn PCA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._errors import InvalidParametersError
from algorithm_flows._helpers import run_pca
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import pca_udfs

__all__ = ["PcaWithTransformationFlow", "PcaWithTransformationParams"]

_NONLINEAR = (pca_udfs.LOG, pca_udfs.EXP)


@dataclass(frozen=True, slots=True)
class PcaWithTransformationParams:
    """Parameters of PCA with transformations; names follow the MIP front end."""

    data_transformation: dict[str, list[str]] = param(  # noqa: RUF009 (param makes a field)
        {},
        doc=(
            "variables to transform, by transformation: log, exp, center, standardize "
            '(e.g. {"log": ["age"], "center": ["age"]}); applied in the order log, exp, center, '
            "standardize, at most one of log and exp per variable"
        ),
    )


class PcaWithTransformationFlow(AlgorithmFlow[PcaWithTransformationParams]):
    """Transform on the nodes, then PCA as ``pca``; the transformed rows are exposed."""

    name = "pca_with_transformation"
    label = "Principal component analysis with transformations"
    params_type = PcaWithTransformationParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1)

    async def run(self, rt: Runtime, params: PcaWithTransformationParams) -> dict[str, Any]:
        steps = per_variable_steps(params.data_transformation, list(rt.inputdata.y))
        result = await run_pca(rt, steps)
        return {key: result[key] for key in ("n_obs", "eigen_vals", "eigen_vecs", "means", "sigmas")}


def per_variable_steps(by_transformation: dict[str, list[str]], y: list[str]) -> dict[str, list[str]]:
    """``{transformation: [variables]}`` as ``{variable: [steps in order]}``, checked.

    Parameters arrive as a protobuf ``Struct``, whose keys keep no order, so steps run in
    the fixed order log, exp, center, standardize; a variable takes at most one of log and exp.
    """
    problems = [
        f"data_transformation {t!r} is unknown; known: {list(pca_udfs.TRANSFORMATIONS)}"
        for t in by_transformation
        if t not in pca_udfs.TRANSFORMATIONS
    ]
    steps: dict[str, list[str]] = {}
    for transformation in pca_udfs.TRANSFORMATIONS:
        for variable in by_transformation.get(transformation, []):
            if variable not in y:
                problems.append(f"data_transformation {transformation!r}: {variable!r} is not in y")
                continue
            done = steps.setdefault(variable, [])
            if transformation in _NONLINEAR and any(s in _NONLINEAR for s in done):
                problems.append(
                    f"data_transformation: {variable!r} gets both log and exp; their order cannot be "
                    "given (parameters are unordered), so choose one"
                )
            done.append(transformation)
    if problems:
        raise InvalidParametersError(problems)
    return steps
