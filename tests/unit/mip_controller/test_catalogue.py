"""The federation catalogue: node answers merged, disagreements reported rather than merged away."""

from __future__ import annotations

from algorithm_flows import InputData
from mip_common._proto import common_pb2, node_service_pb2
from mip_common.errors import NodeUnavailableError
from mip_controller.catalogue import Catalogue


def _answer(
    datasets: list[str], *, label: str = "Age", enumerations: tuple[str, ...] = ("F", "M")
) -> node_service_pb2.GetDataCatalogueResponse:
    model = common_pb2.DataModel(
        code="demo",
        version="1.0",
        variables=[
            common_pb2.Variable(code="age", label=label, sql_type="int"),
            common_pb2.Variable(
                code="gender",
                sql_type="text",
                is_categorical=True,
                enumerations=[common_pb2.Enumeration(code=c, label=c) for c in enumerations],
            ),
        ],
    )
    return node_service_pb2.GetDataCatalogueResponse(
        data_models=[model],
        datasets=[common_pb2.Dataset(code=d, data_model="demo:1.0", row_count=10) for d in datasets],
    )


def test_datasets_are_placed_on_their_nodes() -> None:
    catalogue = Catalogue.merge({"local1": _answer(["a", "b"]), "local2": _answer(["c"])})

    assert catalogue.nodes_holding(InputData("demo:1.0", ("a", "c"))) == {"local1": ["a"], "local2": ["c"]}
    assert catalogue.issues == []


def test_a_dataset_on_two_nodes_is_reported_and_refused() -> None:
    catalogue = Catalogue.merge({"local1": _answer(["a"]), "local2": _answer(["a"])})

    assert [i.reason_code for i in catalogue.issues] == ["DUPLICATE_DATASET"]
    assert any("several nodes" in p for p in catalogue.problems(InputData("demo:1.0", ("a",), y=("age",))))


def test_different_cdes_for_one_data_model_are_reported() -> None:
    catalogue = Catalogue.merge({"local1": _answer(["a"]), "local2": _answer(["b"], enumerations=("F", "M", "X"))})

    assert [i.reason_code for i in catalogue.issues] == ["CDE_MISMATCH"]
    assert sorted(catalogue.issues[0].node_ids) == ["local1", "local2"]


def test_every_problem_of_a_request_is_named() -> None:
    catalogue = Catalogue.merge({"local1": _answer(["a"])})
    filters = {
        "condition": "AND",
        "rules": [{"id": "gender", "field": "gender", "type": "string", "operator": "equal", "value": "Q"}],
    }

    problems = catalogue.problems(InputData("demo:1.0", ("a", "zz"), y=("age", "weight"), filters=filters))

    assert len(problems) == 3
    assert any("zz" in p for p in problems)
    assert any("weight" in p for p in problems)
    assert any("'Q'" in p for p in problems)


def test_unreachable_node_is_noted_not_fatal() -> None:
    catalogue = Catalogue.merge({"local1": _answer(["a"]), "local2": NodeUnavailableError("down")})

    assert catalogue.unreachable == {"local2": "down"}
    assert catalogue.nodes_holding(InputData("demo:1.0", ("a",))) == {"local1": ["a"]}
