"""What a researcher can change when a node refuses an output for a small cell, one text per kind of cell."""

from __future__ import annotations

__all__ = ["CLASS_HINT", "CLUSTER_HINT", "DATASET_HINT", "FOLD_HINT", "GROUP_HINT", "LEVEL_HINT"]

LEVEL_HINT = (
    "a level of a categorical variable has fewer rows on a node than its minimum; leave the variable out, "
    "choose other datasets or merge rare levels"
)
FOLD_HINT = "a fold has fewer rows on a node than its minimum; use fewer folds (n_splits)"
CLASS_HINT = (
    "a class of the outcome (or a category of a feature within a class) has fewer rows on a node than its "
    "minimum; choose a more common outcome, other features or other datasets"
)
CLUSTER_HINT = "a cluster holds fewer rows on a node than its minimum; ask for fewer clusters"
GROUP_HINT = "a group has fewer rows on a node than its minimum; choose other groups, datasets or filters"
DATASET_HINT = "a dataset has fewer rows than the node's minimum; leave it out of the request"
