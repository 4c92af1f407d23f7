"""CART classification tree over the rows of every local node, equal to scikit-learn's.

See ``udf_library.decision_tree_udfs`` for how splits are found exactly from class
counts at cut points, and what that shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import CLASS_RULE, class_levels
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, GlobalTable, Runtime, VariableRule
from udf_library import decision_tree_udfs as tree_udfs
from udf_library import naive_bayes_udfs

__all__ = ["CUT_BUDGET", "DecisionTreeFlow", "DecisionTreeParams"]

CUT_BUDGET = 1024
"""Cut points proposed per round, over every tree node and feature of a level."""


@dataclass(frozen=True, slots=True)
class DecisionTreeParams:
    """Parameters of the classification tree; names follow scikit-learn."""

    criterion: str = param("gini", doc="split quality measure", choices=("gini", "entropy"))
    max_depth: int | None = param(None, doc="deepest level of the tree (none: no limit)", minimum=1)
    min_samples_split: int = param(2, doc="fewest rows a node needs to be split", minimum=2)
    min_samples_leaf: int = param(1, doc="fewest rows in each child of a split", minimum=1)


class DecisionTreeFlow(AlgorithmFlow[DecisionTreeParams]):
    """Level by level: search every frontier node's best split, place thresholds, grow.

    Rounds: one for the root's class counts; per level, one per search refinement plus
    one for the split boundary values; one for the training confusion matrix.
    """

    name = "decision_tree"
    label = "Decision tree (CART classification)"
    params_type = DecisionTreeParams
    y = CLASS_RULE
    x = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, doc="the features")

    async def run(self, rt: Runtime, params: DecisionTreeParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        x = list(rt.inputdata.x)
        classes = class_levels(rt, y)
        limits: dict[str, Any] = {
            "criterion": params.criterion,
            "max_depth": -1 if params.max_depth is None else params.max_depth,
            "min_samples_split": params.min_samples_split,
            "min_samples_leaf": params.min_samples_leaf,
        }
        search_args: dict[str, Any] = {
            "criterion": params.criterion,
            "min_samples_leaf": params.min_samples_leaf,
            "cut_budget": CUT_BUDGET,
        }
        counts = await rt.execute_udf_locals(tree_udfs.local_class_counts, data=rt.data, y=y, classes=classes)
        grown = await rt.execute_udf_global_outputs(
            tree_udfs.global_tree_root,
            counts=await rt.create_remote_and_merge_global(counts),
            classes=classes,
            **limits,
        )
        tree, level = grown["tree"], 0
        while int((await rt.read_global(grown["status"]))["n_frontier"][0]) > 0:
            level += 1
            rt.report_progress("growing tree level", iteration=level)
            local_tree = await rt.create_remote_global_to_locals(tree)
            search = await rt.execute_udf_global_outputs(
                tree_udfs.global_start_search, tree=tree, n_features=len(x), **search_args
            )
            while int((await rt.read_global(search["status"]))["n_cuts"][0]) > 0:
                cut_counts = await rt.execute_udf_locals(
                    tree_udfs.local_cut_counts,
                    data=rt.data,
                    tree=local_tree,
                    cuts=await rt.create_remote_global_to_locals(search["cuts"]),
                    y=y,
                    x=x,
                    classes=classes,
                )
                search = await rt.execute_udf_global_outputs(
                    tree_udfs.global_refine_search,
                    tree=tree,
                    intervals=search["intervals"],
                    best=search["best"],
                    cuts=search["cuts"],
                    counts=await rt.create_remote_and_merge_global(cut_counts),
                    **search_args,
                )
            splits = await rt.execute_udf_global(
                tree_udfs.global_choose_splits, best=search["best"], n_classes=len(classes)
            )
            bounds = await self._split_bounds(rt, local_tree, splits, x)
            grown = await rt.execute_udf_global_outputs(
                tree_udfs.global_grow_tree, tree=tree, splits=splits, bounds=bounds, **limits
            )
            tree = grown["tree"]
        final = await rt.execute_udf_global(tree_udfs.global_finalize_tree, tree=tree)
        return await self._report(rt, final, y, x, classes)

    @staticmethod
    async def _split_bounds(rt: Runtime, local_tree: Any, splits: GlobalTable, x: list[str]) -> GlobalTable:
        bounds = await rt.execute_udf_locals(
            tree_udfs.local_split_bounds,
            data=rt.data,
            tree=local_tree,
            splits=await rt.create_remote_global_to_locals(splits),
            x=x,
        )
        return await rt.create_remote_and_merge_global(bounds)

    @staticmethod
    async def _report(rt: Runtime, final: GlobalTable, y: str, x: list[str], classes: list[str]) -> dict[str, Any]:
        predicted = await rt.execute_udf_locals_outputs(
            tree_udfs.local_tree_predict,
            data=rt.data,
            tree=await rt.create_remote_global_to_locals(final),
            y=y,
            x=x,
            classes=classes,
        )
        rt.expose("predictions", predicted["predictions"])
        metrics = await rt.execute_udf_global_outputs(
            naive_bayes_udfs.global_cv_metrics,
            confusion=await rt.create_remote_and_merge_global(predicted["confusion"]),
            classes=classes,
            n_splits=1,
        )
        table = await rt.read_global(metrics["metrics"])
        matrix = await rt.read_global(metrics["confusion"])
        overall = table.take(table["fold"] == -1)
        overall_matrix = matrix.take(matrix["fold"] == -1)
        nodes = await rt.read_global(final)
        present = [c for c in range(len(classes)) if int(nodes[f"count_{c}"][0]) > 0]
        feature = [int(f) for f in nodes["feature"]]
        return {
            "classes": [classes[c] for c in present],
            "features": x,
            "tree": {
                "children_left": [int(v) for v in nodes["left"]],
                "children_right": [int(v) for v in nodes["right"]],
                "feature": feature,
                "feature_name": [x[f] if f >= 0 else None for f in feature],
                "threshold": [float(v) for v in nodes["threshold"]],
                "impurity": [float(v) for v in nodes["impurity"]],
                "n_node_samples": [int(v) for v in nodes["n_node_samples"]],
                "class_counts": nodes.matrix([f"count_{c}" for c in present]).astype(int).tolist(),
            },
            "node_count": nodes.num_rows,
            "depth": int(nodes["depth"].max()),
            "n_leaves": sum(1 for v in nodes["left"] if v < 0),
            "n_obs": int(nodes["n_node_samples"][0]),
            "training": {
                "accuracy": float(overall["accuracy"][0]),
                "precision": [float(v) for v in overall["precision"]],
                "recall": [float(v) for v in overall["recall"]],
                "f1": [float(v) for v in overall["f1"]],
                "confusion_matrix": overall_matrix.matrix([f"pred_{i}" for i in range(overall.num_rows)])
                .astype(int)
                .tolist(),
            },
        }
