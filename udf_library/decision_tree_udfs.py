"""CART classification tree, grown level by level from per-node class counts at cut points.

The tree equals scikit-learn's ``DecisionTreeClassifier`` (same features, thresholds
and node counts) on data without ties between candidate splits, without any node
sharing its rows or its distinct values.

How a split is found exactly
----------------------------
A split of a tree node on feature ``f`` is fixed by the partition it makes, so any
cut between two consecutive pooled values gives the same split. The global node
proposes cut points and every local node answers, per cut, with the class counts of
its rows (in that tree node) at or below the cut. From those sums the global node
knows the exact impurity of every proposed cut, and for the rows between two cuts
only their class counts. Over that interval it computes a lower bound of the
weighted child impurity of any split inside it (the criterion is concave in the
left counts, so its minimum over the box of possible left counts, cut by the
``min_samples_leaf`` limits, lies at a vertex of that polytope). Intervals whose
bound cannot beat the best exact cut found so far are dropped; the others are cut
again, more finely. Cuts are spaced evenly in the order-preserving integer encoding
of float64, so the search needs no value range and ends, at the latest, when an
interval holds a single float64. With no ties the best split is unique, so the
split found is scikit-learn's.

scikit-learn puts the threshold halfway between the two pooled values around the
split. Once a split is chosen, each node shares the largest value at or below the
cut and the smallest above it (within that tree node); the global node keeps the
overall maximum and minimum.

Privacy trade-off
-----------------
Local nodes share only aggregates, each as one wide row: class counts at cut points
and, per chosen split, two boundary values. Two things are given up for exactness.
(1) Near a winning split the search refines intervals until they separate the
classes, so counts can describe a handful of rows inside a narrow value range; a
tree grown to ``min_samples_leaf=1`` publishes the same kind of information in
its leaves anyway. (2) The two boundary values of each split are single row values
of one node (the threshold, their midpoint, is published in the tree). Both stay on
the global node; results carry only the tree. Values closer than scikit-learn's
1e-7 ``FEATURE_THRESHOLD`` are not treated as ties here.

Because of both, the search runs only on nodes whose operator accepts single rows'
values leaving the node (``extremes = "exact"``); other nodes refuse it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._hints import CLASS_HINT
from udf_library._packing import pack, unpack
from udf_library._policy import DisclosurePolicy
from udf_library._udf import WHOLE_VIEW, private, shared, udf
from udf_library.naive_bayes_udfs import encode_levels

__all__ = [
    "float_to_key",
    "global_choose_splits",
    "global_finalize_tree",
    "global_grow_tree",
    "global_refine_search",
    "global_start_search",
    "global_tree_root",
    "key_to_float",
    "local_class_counts",
    "local_cut_counts",
    "local_split_bounds",
    "local_tree_predict",
    "lower_bound",
    "weighted_impurity",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FRONTIER, LEAF, SPLIT = 0, 1, 2
NO_FEATURE = -2  # scikit-learn's TREE_UNDEFINED
NO_CHILD = -1  # scikit-learn's TREE_LEAF
NO_THRESHOLD = -2.0
EPSILON = float(np.finfo(np.float64).eps)
MAX_BOUND_CLASSES = 10  # beyond, the vertex bound is skipped (every interval is refined)
MAX_CUTS_PER_INTERVAL = 256

_SIGN = np.int64(-(2**63))
_MAGNITUDE = np.int64(2**63 - 1)
KEY_MAX = int(np.array([np.finfo(np.float64).max]).view(np.int64)[0])
KEY_BELOW_ALL = -KEY_MAX - 1  # an exclusive lower bound below every finite float64


# ------------------------------------------------------------------------- local UDFs


@udf(outputs=(shared("counts", rows="n_*", hint=CLASS_HINT),))
def local_class_counts(data: ArrayBundle, y: str, classes: list[str]) -> ArrayBundle:
    """Class counts of this node's rows: the root of the tree."""
    labels = encode_levels(data[y], classes, y)
    return pack({"n": np.bincount(labels, minlength=len(classes))})


@udf(outputs=(shared("counts", rows=WHOLE_VIEW),))  # allowed only in exact mode, see the module docstring
def local_cut_counts(
    data: ArrayBundle,
    tree: ArrayBundle,
    cuts: ArrayBundle,
    y: str,
    x: list[str],
    classes: list[str],
    policy: DisclosurePolicy,
) -> ArrayBundle:
    """For each cut (tree node, feature, value): class counts of the node's rows at or below it."""
    _require_exact(policy)
    labels = encode_levels(data[y], classes, y)
    points = data.matrix(x)
    node_of_row = _route_growing(tree, points)
    k = len(classes)
    out = np.zeros((cuts.num_rows, k))
    groups = cuts["node"] * len(x) + cuts["feature"]
    for group in np.unique(groups):
        which = np.flatnonzero(groups == group)
        node, feature = divmod(int(group), len(x))
        rows = node_of_row == node
        values = points[rows, feature]
        order = np.argsort(values, kind="stable")
        onehot = np.zeros((order.size + 1, k))
        onehot[np.arange(1, order.size + 1), labels[rows][order]] = 1.0
        cumulative = np.cumsum(onehot, axis=0)
        positions = np.searchsorted(values[order], cuts["value"][which], side="right")
        out[which] = cumulative[positions]
    return pack({"n": out})


@udf(outputs=(shared("bounds", rows=WHOLE_VIEW),))  # allowed only in exact mode, see the module docstring
def local_split_bounds(
    data: ArrayBundle, tree: ArrayBundle, splits: ArrayBundle, x: list[str], policy: DisclosurePolicy
) -> ArrayBundle:
    """Per chosen split: the largest value at or below its cut and the smallest above it.

    -inf/+inf when this node has no such row; the global node takes the max/min.
    """
    _require_exact(policy)
    points = data.matrix(x)
    node_of_row = _route_growing(tree, points)
    below = np.full(splits.num_rows, -np.inf)
    above = np.full(splits.num_rows, np.inf)
    for i in range(splits.num_rows):
        values = points[node_of_row == splits["node"][i], splits["feature"][i]]
        cut = splits["value"][i]
        left, right = values[values <= cut], values[values > cut]
        if left.size:
            below[i] = left.max()
        if right.size:
            above[i] = right.min()
    return pack({"below": below, "above": above})


@udf(outputs=(shared("confusion", rows=WHOLE_VIEW), private("predictions")))
def local_tree_predict(
    data: ArrayBundle, tree: ArrayBundle, y: str, x: list[str], classes: list[str]
) -> tuple[ArrayBundle, ArrayBundle]:
    """Predict each row with the final tree: per-row predictions stay here, counts are shared."""
    labels = encode_levels(data[y], classes, y)
    points = data.matrix(x)
    leaf = _route(points, tree["feature"], tree["threshold"], tree["left"], tree["right"])
    counts = tree.matrix([f"count_{c}" for c in range(len(classes))])
    predicted = np.argmax(counts[leaf], axis=1)
    k = len(classes)
    confusion = np.bincount(labels * k + predicted, minlength=k * k).reshape(1, k, k)
    names = np.array([classes[p] for p in predicted], dtype=object)
    return pack({"confusion": confusion}), ArrayBundle({"prediction": names})


def _require_exact(policy: DisclosurePolicy) -> None:
    if policy.extremes != "exact":
        raise UdfInputError(
            "the decision tree's exact split search shares single rows' values (split boundaries, counts in "
            f"narrow value ranges); this node's extremes setting is {policy.extremes!r}, and only an operator "
            'who sets extremes = "exact" allows it'
        )


# ------------------------------------------------------------------------ global UDFs


@udf(outputs=(shared("tree"), shared("status")))
def global_tree_root(
    counts: ArrayBundle,
    classes: list[str],
    criterion: str,
    max_depth: int,
    min_samples_split: int,
    min_samples_leaf: int,
) -> tuple[ArrayBundle, ArrayBundle]:
    """The one-node tree holding every row; ``max_depth`` < 0 means no limit."""
    _check_criterion(criterion)
    total = unpack(counts, "n", (len(classes),)).sum(axis=0)
    if total.sum() == 0:
        raise UdfInputError("no rows to grow a tree on")
    limits = (max_depth, min_samples_split, min_samples_leaf)
    tree = _Tree.empty(len(classes))
    tree.add(-1, False, 0, total, criterion, limits)
    return tree.bundle(), tree.status()


@udf(outputs=(shared("intervals"), shared("best"), shared("cuts"), shared("status")))
def global_start_search(
    tree: ArrayBundle,
    n_features: int,
    criterion: str,
    min_samples_leaf: int,
    cut_budget: int,
) -> tuple[ArrayBundle, ArrayBundle, ArrayBundle, ArrayBundle]:
    """Open the split search of every frontier node: one interval per feature, all floats."""
    grown = _Tree.from_bundle(tree)
    frontier = [i for i in range(len(grown.status_of)) if grown.status_of[i] == FRONTIER]
    k = grown.k
    intervals = _Intervals(k)
    for node in frontier:
        for feature in range(n_features):
            intervals.add(node, feature, KEY_BELOW_ALL, KEY_MAX, np.zeros(k), grown.counts[node])
    best = _Best.empty(frontier, k)
    live = intervals.live(grown, best, criterion, min_samples_leaf)
    return _next_cuts(live, best, cut_budget)


@udf(outputs=(shared("intervals"), shared("best"), shared("cuts"), shared("status")))
def global_refine_search(
    tree: ArrayBundle,
    intervals: ArrayBundle,
    best: ArrayBundle,
    cuts: ArrayBundle,
    counts: ArrayBundle,
    criterion: str,
    min_samples_leaf: int,
    cut_budget: int,
) -> tuple[ArrayBundle, ArrayBundle, ArrayBundle, ArrayBundle]:
    """Score every cut exactly, split the intervals at the cuts and keep those still promising."""
    grown = _Tree.from_bundle(tree)
    k = grown.k
    cumulative = unpack(counts, "n", (cuts.num_rows, k)).sum(axis=0)
    incumbent = _Best.from_bundle(best, k)
    previous = _Intervals.from_bundle(intervals, k)
    pieces = _Intervals(k)
    totals = np.array([grown.counts[n] for n in cuts["node"]]).reshape(cuts.num_rows, k)
    n_left = cumulative.sum(axis=1)
    valid = (n_left >= min_samples_leaf) & (n_left <= totals.sum(axis=1) - min_samples_leaf)
    scores = _node_cost(cumulative, criterion) + _node_cost(totals - cumulative, criterion)
    for i in range(len(previous.node)):
        node, feature = previous.node[i], previous.feature[i]
        which = np.flatnonzero(cuts["interval"] == i)
        which = which[np.argsort(cuts["key"][which], kind="stable")]
        lo, below = previous.lo[i], previous.below[i]
        for cut in which:
            left = cumulative[cut]
            if valid[cut]:
                incumbent.offer(node, float(scores[cut]), feature, int(cuts["key"][cut]), left)
            pieces.add(node, feature, lo, int(cuts["key"][cut]), below, left - below)
            lo, below = int(cuts["key"][cut]), left
        end = previous.below[i] + previous.inside[i]
        pieces.add(node, feature, lo, previous.hi[i], below, end - below)
    live = pieces.live(grown, incumbent, criterion, min_samples_leaf)
    return _next_cuts(live, incumbent, cut_budget)


@udf(outputs=(shared("splits"),))
def global_choose_splits(best: ArrayBundle, n_classes: int) -> ArrayBundle:
    """The best valid cut of each frontier node that has one (the others become leaves)."""
    incumbent = _Best.from_bundle(best, n_classes)
    chosen = np.flatnonzero(np.isfinite(incumbent.value))
    keys = np.array([incumbent.key[i] for i in chosen], dtype=np.int64)
    columns: dict[str, Any] = {
        "node": np.array([incumbent.node[i] for i in chosen], dtype=np.int64),
        "feature": np.array([incumbent.feature[i] for i in chosen], dtype=np.int64),
        "key": keys,
        "value": key_to_float(keys),
    }
    left = incumbent.left[chosen] if chosen.size else np.zeros((0, n_classes))
    columns |= {f"left_{c}": left[:, c] for c in range(n_classes)}
    return ArrayBundle(columns)


@udf(outputs=(shared("tree"), shared("status")))
def global_grow_tree(
    tree: ArrayBundle,
    splits: ArrayBundle,
    bounds: ArrayBundle,
    criterion: str,
    max_depth: int,
    min_samples_split: int,
    min_samples_leaf: int,
) -> tuple[ArrayBundle, ArrayBundle]:
    """Apply the chosen splits (threshold halfway between the pooled boundary values).

    Frontier nodes without a split become leaves; each new child is a leaf or joins
    the next frontier by scikit-learn's stopping rules.
    """
    grown = _Tree.from_bundle(tree)
    k = grown.k
    below = unpack(bounds, "below", (splits.num_rows,)).max(axis=0)
    above = unpack(bounds, "above", (splits.num_rows,)).min(axis=0)
    limits = (max_depth, min_samples_split, min_samples_leaf)
    chosen = {int(node): i for i, node in enumerate(splits["node"])}
    frontier = [i for i in range(len(grown.status_of)) if grown.status_of[i] == FRONTIER]
    for node in frontier:
        if node not in chosen:
            grown.status_of[node] = LEAF
            continue
        i = chosen[node]
        if not (np.isfinite(below[i]) and np.isfinite(above[i])):
            raise UdfInputError("a chosen split has rows on one side only; the data changed")
        left = np.array([splits[f"left_{c}"][i] for c in range(k)], dtype=np.float64)
        depth = grown.depth[node] + 1
        grown.status_of[node] = SPLIT
        grown.feature[node] = int(splits["feature"][i])
        grown.cut[node] = float(splits["value"][i])
        grown.threshold[node] = float(below[i] / 2.0 + above[i] / 2.0)
        grown.left[node] = grown.add(node, True, depth, left, criterion, limits)
        grown.right[node] = grown.add(node, False, depth, grown.counts[node] - left, criterion, limits)
    return grown.bundle(), grown.status()


@udf(outputs=(shared("tree"),))
def global_finalize_tree(tree: ArrayBundle) -> ArrayBundle:
    """The grown tree in scikit-learn's node order (depth first, left before right)."""
    grown = _Tree.from_bundle(tree)
    order: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if grown.status_of[node] == SPLIT:
            stack.extend([grown.right[node], grown.left[node]])
    new_id = {old: new for new, old in enumerate(order)}
    is_split = np.array([grown.status_of[o] == SPLIT for o in order])

    def relabel(children: list[int]) -> IntArray:
        return np.array(
            [new_id[children[o]] if s else NO_CHILD for o, s in zip(order, is_split, strict=True)],
            dtype=np.int64,
        )

    columns: dict[str, Any] = {
        "node": np.arange(len(order), dtype=np.int64),
        "left": relabel(grown.left),
        "right": relabel(grown.right),
        "feature": np.array(
            [grown.feature[o] if s else NO_FEATURE for o, s in zip(order, is_split, strict=True)],
            dtype=np.int64,
        ),
        "threshold": np.array(
            [grown.threshold[o] if s else NO_THRESHOLD for o, s in zip(order, is_split, strict=True)]
        ),
        "impurity": np.array([grown.impurity[o] for o in order]),
        "depth": np.array([grown.depth[o] for o in order], dtype=np.int64),
        "n_node_samples": np.array([int(grown.counts[o].sum()) for o in order], dtype=np.int64),
    }
    counts = np.array([grown.counts[o] for o in order])
    columns |= {f"count_{c}": counts[:, c].astype(np.int64) for c in range(grown.k)}
    return ArrayBundle(columns)


# ------------------------------------------------------------------------------ maths


def weighted_impurity(left: FloatArray, total: FloatArray, criterion: str) -> FloatArray:
    """Child impurities weighted by child size (``n_L*i(L) + n_R*i(R)``), one per row of ``left``.

    Concave in ``left``, which is what makes the interval bound valid.
    """
    return _node_cost(left, criterion) + _node_cost(total[None, :] - left, criterion)


def impurity(counts: FloatArray, criterion: str) -> float:
    """Gini or entropy (bits) of one node, computed as scikit-learn computes it."""
    n = float(counts.sum())
    if criterion == "gini":
        return float(1.0 - float(np.sum(counts * counts)) / (n * n))
    p = counts[counts > 0] / n
    return float(-np.sum(p * np.log(p)) / np.log(2.0))


def lower_bound(
    below: FloatArray,
    inside: FloatArray,
    total: FloatArray,
    min_samples_leaf: int,
    criterion: str,
) -> float:
    """Least weighted impurity of any split strictly inside an interval; +inf if none is valid.

    The split puts ``below`` plus some ``s`` (0 <= s <= inside, at least one row and at
    least one fewer than ``inside``, ``min_samples_leaf`` on each side) to the left. The
    concave criterion reaches its minimum over that polytope at one of its vertices:
    corners of the box, and points where a box edge meets a limit on ``sum(s)``.
    """
    n_inside, n_below, n_total = inside.sum(), below.sum(), total.sum()
    low = max(1.0, min_samples_leaf - n_below)
    high = min(n_inside - 1.0, n_total - min_samples_leaf - n_below)
    if low > high:
        return float(np.inf)
    active = np.flatnonzero(inside > 0)
    d = active.size
    if d > MAX_BOUND_CLASSES:
        return float(-np.inf)
    m = inside[active]
    corners = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1) * m[None, :]
    sums = corners.sum(axis=1)
    points = [corners[(sums >= low) & (sums <= high)]]
    for target in {low, high}:
        for j in range(d):
            base = corners[corners[:, j] == 0]
            free = target - base.sum(axis=1)
            ok = (free > 0) & (free < m[j])
            edge = base[ok].copy()
            edge[:, j] = free[ok]
            points.append(edge)
    vertices = np.concatenate(points)
    if vertices.shape[0] == 0:
        return float(np.inf)
    left = np.tile(below, (vertices.shape[0], 1))
    left[:, active] += vertices
    return float(weighted_impurity(left, total, criterion).min())


def float_to_key(values: FloatArray) -> IntArray:
    """Order-preserving int64 key of each float64 (-0.0 and 0.0 share key 0)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    keys: IntArray = np.where(bits >= 0, bits, -(bits & _MAGNITUDE))
    return keys


def key_to_float(keys: IntArray) -> FloatArray:
    """The float64 of each key of ``float_to_key``."""
    keys = np.asarray(keys, dtype=np.int64)
    bits = np.where(keys >= 0, keys, (-keys) | _SIGN)
    values: FloatArray = np.ascontiguousarray(bits).view(np.float64)
    return values


# ---------------------------------------------------------------------------- helpers


def _check_criterion(criterion: str) -> None:
    if criterion not in ("gini", "entropy"):
        raise UdfInputError(f"criterion must be 'gini' or 'entropy', got {criterion!r}")


def _node_cost(counts: FloatArray, criterion: str) -> FloatArray:
    """``n * impurity`` of each row of class counts (0 for an empty node)."""
    n = counts.sum(axis=1)
    safe = np.where(n > 0, n, 1.0)
    if criterion == "gini":
        cost: FloatArray = n - np.sum(counts * counts, axis=1) / safe
        return cost
    with np.errstate(divide="ignore", invalid="ignore"):
        c_log_c = np.where(counts > 0, counts * np.log2(np.where(counts > 0, counts, 1.0)), 0.0)
    entropy_cost: FloatArray = n * np.log2(safe) - c_log_c.sum(axis=1)
    return entropy_cost


def _route(
    points: FloatArray,
    feature: IntArray,
    threshold: FloatArray,
    left: IntArray,
    right: IntArray,
) -> IntArray:
    """The node each row reaches, starting at node 0 (a node with ``left < 0`` stops it)."""
    node = np.zeros(points.shape[0], dtype=np.int64)
    while True:
        moving = np.flatnonzero(left[node] >= 0)
        if moving.size == 0:
            return node
        at = node[moving]
        goes_left = points[moving, feature[at]] <= threshold[at]
        node[moving] = np.where(goes_left, left[at], right[at])


def _route_growing(tree: ArrayBundle, points: FloatArray) -> IntArray:
    """Route by the cuts the splits were chosen with (the same partition as the thresholds)."""
    return _route(points, tree["feature"], tree["cut"], tree["left"], tree["right"])


class _Tree:
    """The tree being grown, as Python lists indexed by node id (the table's rows)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.parent: list[int] = []
        self.is_left: list[bool] = []
        self.depth: list[int] = []
        self.status_of: list[int] = []
        self.feature: list[int] = []
        self.cut: list[float] = []
        self.threshold: list[float] = []
        self.left: list[int] = []
        self.right: list[int] = []
        self.counts: list[FloatArray] = []
        self.impurity: list[float] = []

    @classmethod
    def empty(cls, k: int) -> _Tree:
        return cls(k)

    @classmethod
    def from_bundle(cls, bundle: ArrayBundle) -> _Tree:
        k = sum(1 for name in bundle.names if name.startswith("count_"))
        tree = cls(k)
        tree.parent = bundle["parent"].tolist()
        tree.is_left = bundle["is_left"].tolist()
        tree.depth = bundle["depth"].tolist()
        tree.status_of = bundle["status"].tolist()
        tree.feature = bundle["feature"].tolist()
        tree.cut = bundle["cut"].tolist()
        tree.threshold = bundle["threshold"].tolist()
        tree.left = bundle["left"].tolist()
        tree.right = bundle["right"].tolist()
        tree.counts = list(bundle.matrix([f"count_{c}" for c in range(k)]))
        tree.impurity = bundle["impurity"].tolist()
        return tree

    def add(
        self,
        parent: int,
        is_left: bool,
        depth: int,
        counts: FloatArray,
        criterion: str,
        limits: tuple[int, int, int],
    ) -> int:
        """Append a node; it is a leaf when scikit-learn would not try to split it."""
        max_depth, min_samples_split, min_samples_leaf = limits
        n = float(counts.sum())
        node_impurity = impurity(counts, criterion)
        is_leaf = (
            (0 <= max_depth <= depth) or n < min_samples_split or n < 2 * min_samples_leaf or node_impurity <= EPSILON
        )
        self.parent.append(parent)
        self.is_left.append(is_left)
        self.depth.append(depth)
        self.status_of.append(LEAF if is_leaf else FRONTIER)
        self.feature.append(NO_FEATURE)
        self.cut.append(0.0)
        self.threshold.append(NO_THRESHOLD)
        self.left.append(NO_CHILD)
        self.right.append(NO_CHILD)
        self.counts.append(np.asarray(counts, dtype=np.float64))
        self.impurity.append(node_impurity)
        return len(self.parent) - 1

    def bundle(self) -> ArrayBundle:
        counts = np.array(self.counts).reshape(len(self.counts), self.k)
        columns: dict[str, Any] = {
            "node": np.arange(len(self.parent), dtype=np.int64),
            "parent": np.array(self.parent, dtype=np.int64),
            "is_left": np.array(self.is_left, dtype=bool),
            "depth": np.array(self.depth, dtype=np.int64),
            "status": np.array(self.status_of, dtype=np.int64),
            "feature": np.array(self.feature, dtype=np.int64),
            "cut": np.array(self.cut, dtype=np.float64),
            "threshold": np.array(self.threshold, dtype=np.float64),
            "left": np.array(self.left, dtype=np.int64),
            "right": np.array(self.right, dtype=np.int64),
            "impurity": np.array(self.impurity, dtype=np.float64),
        }
        columns |= {f"count_{c}": counts[:, c] for c in range(self.k)}
        return ArrayBundle(columns)

    def status(self) -> ArrayBundle:
        n_frontier = sum(1 for s in self.status_of if s == FRONTIER)
        return ArrayBundle({"n_frontier": [n_frontier], "n_nodes": [len(self.status_of)]})


class _Best:
    """The best valid cut found so far for each frontier node."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.node: list[int] = []
        self.value = np.zeros(0)
        self.feature: list[int] = []
        self.key: list[int] = []
        self.left = np.zeros((0, k))
        self._row: dict[int, int] = {}

    @classmethod
    def empty(cls, nodes: list[int], k: int) -> _Best:
        best = cls(k)
        best.node = list(nodes)
        best.value = np.full(len(nodes), np.inf)
        best.feature = [-1] * len(nodes)
        best.key = [0] * len(nodes)
        best.left = np.zeros((len(nodes), k))
        best._row = {node: i for i, node in enumerate(nodes)}
        return best

    @classmethod
    def from_bundle(cls, bundle: ArrayBundle, k: int) -> _Best:
        best = cls(k)
        best.node = bundle["node"].tolist()
        best.value = bundle["value"].astype(np.float64).copy()
        best.feature = bundle["feature"].tolist()
        best.key = bundle["key"].tolist()
        best.left = bundle.matrix([f"left_{c}" for c in range(k)]).copy()
        best._row = {node: i for i, node in enumerate(best.node)}
        return best

    def value_of(self, node: int) -> float:
        return float(self.value[self._row[node]])

    def offer(self, node: int, value: float, feature: int, key: int, left: FloatArray) -> None:
        """Keep the cut if it is strictly better (the first of equal ones wins)."""
        i = self._row[node]
        if value < self.value[i]:
            self.value[i] = value
            self.feature[i] = feature
            self.key[i] = key
            self.left[i] = left

    def bundle(self) -> ArrayBundle:
        columns: dict[str, Any] = {
            "node": np.array(self.node, dtype=np.int64),
            "value": self.value,
            "feature": np.array(self.feature, dtype=np.int64),
            "key": np.array(self.key, dtype=np.int64),
        }
        columns |= {f"left_{c}": self.left[:, c] for c in range(self.k)}
        return ArrayBundle(columns)


class _Intervals:
    """Key intervals ``(lo, hi]`` of one (tree node, feature) with their class counts."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.node: list[int] = []
        self.feature: list[int] = []
        self.lo: list[int] = []
        self.hi: list[int] = []
        self.below: list[FloatArray] = []
        self.inside: list[FloatArray] = []

    @classmethod
    def from_bundle(cls, bundle: ArrayBundle, k: int) -> _Intervals:
        intervals = cls(k)
        intervals.node = bundle["node"].tolist()
        intervals.feature = bundle["feature"].tolist()
        intervals.lo = bundle["lo"].tolist()
        intervals.hi = bundle["hi"].tolist()
        intervals.below = list(bundle.matrix([f"below_{c}" for c in range(k)]))
        intervals.inside = list(bundle.matrix([f"inside_{c}" for c in range(k)]))
        return intervals

    def add(self, node: int, feature: int, lo: int, hi: int, below: FloatArray, inside: FloatArray) -> None:
        self.node.append(int(node))
        self.feature.append(int(feature))
        self.lo.append(int(lo))
        self.hi.append(int(hi))
        self.below.append(np.asarray(below, dtype=np.float64))
        self.inside.append(np.asarray(inside, dtype=np.float64))

    def live(self, tree: _Tree, best: _Best, criterion: str, min_samples_leaf: int) -> _Intervals:
        """The intervals that may still hold a split better than the node's best cut."""
        kept = _Intervals(self.k)
        for i in range(len(self.node)):
            if self.inside[i].sum() < 2 or self.hi[i] - self.lo[i] < 2:
                continue
            node = self.node[i]
            bound = lower_bound(self.below[i], self.inside[i], tree.counts[node], min_samples_leaf, criterion)
            if bound < best.value_of(node):
                kept.add(node, self.feature[i], self.lo[i], self.hi[i], self.below[i], self.inside[i])
        return kept

    def bundle(self) -> ArrayBundle:
        n = len(self.node)
        below = np.array(self.below).reshape(n, self.k)
        inside = np.array(self.inside).reshape(n, self.k)
        columns: dict[str, Any] = {
            "node": np.array(self.node, dtype=np.int64),
            "feature": np.array(self.feature, dtype=np.int64),
            "lo": np.array(self.lo, dtype=np.int64),
            "hi": np.array(self.hi, dtype=np.int64),
        }
        columns |= {f"below_{c}": below[:, c] for c in range(self.k)}
        columns |= {f"inside_{c}": inside[:, c] for c in range(self.k)}
        return ArrayBundle(columns)


def _next_cuts(
    live: _Intervals, best: _Best, cut_budget: int
) -> tuple[ArrayBundle, ArrayBundle, ArrayBundle, ArrayBundle]:
    """Cut each live interval into equal key steps, sharing ``cut_budget`` cuts between them."""
    n_live = len(live.node)
    pieces = min(MAX_CUTS_PER_INTERVAL, max(2, cut_budget // max(n_live, 1)))
    rows: dict[str, list[int]] = {"node": [], "feature": [], "interval": [], "key": []}
    for i in range(n_live):
        lo, hi = live.lo[i], live.hi[i]
        width = hi - lo
        if width <= pieces:
            keys = list(range(lo + 1, hi))
        else:
            keys = sorted({lo + (width * j) // pieces for j in range(1, pieces)} - {lo, hi})
        rows["node"].extend([live.node[i]] * len(keys))
        rows["feature"].extend([live.feature[i]] * len(keys))
        rows["interval"].extend([i] * len(keys))
        rows["key"].extend(keys)
    keys_array = np.array(rows["key"], dtype=np.int64)
    cuts = ArrayBundle(
        {
            "node": np.array(rows["node"], dtype=np.int64),
            "feature": np.array(rows["feature"], dtype=np.int64),
            "interval": np.array(rows["interval"], dtype=np.int64),
            "key": keys_array,
            "value": key_to_float(keys_array),
        }
    )
    status = ArrayBundle({"n_cuts": [len(keys_array)], "n_live": [n_live]})
    return live.bundle(), best.bundle(), cuts, status
