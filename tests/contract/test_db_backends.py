"""One contract for every storage backend: each test runs on DuckDB and on MonetDB.

DuckDB always runs. MonetDB runs when ``MIP_MONETDB_URL`` names a reachable server,
for example ``monetdb://monetdb:monetdb@127.0.0.1:50000/demo`` (``scripts/test.sh`` starts
one); otherwise its cases are skipped with a message saying so, or fail under ``CI=true``
(``tests/helpers/monetdb.py``). Every MonetDB case works in schemas of its own
(``mip_test_<random>``) and drops them afterwards; the federation case uses the nodes'
default schemas (``mip_global``, ``mip_local1``, ...), which it empties first.
"""

from __future__ import annotations

import csv
import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from mip_node.db import Database, DatasetRecord, DuckDBDatabase, MonetDBDatabase, Privacy, TableMeta
from tests.helpers.lloyd import lloyd
from tests.helpers.monetdb import drop_schemas, monetdb_settings, node_settings, require_monetdb
from tests.helpers.reference import REFERENCE_DISCLOSURE

BACKENDS = ["duckdb", "monetdb"]

Opener = Callable[[], Database]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "monetdb":
        require_monetdb()
    return name


@pytest.fixture
def open_db(backend: str, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store each call (so a test can close and reopen it); closes what it opened."""
    opened: list[Database] = []
    schema = f"mip_test_{uuid.uuid4().hex[:10]}"

    def opener() -> Database:
        db: Database
        if backend == "duckdb":
            db = DuckDBDatabase(tmp_path / "node.duckdb")
        else:
            settings = monetdb_settings()
            assert settings is not None
            db = MonetDBDatabase(dataclasses.replace(settings, schema=schema))
        opened.append(db)
        return db

    yield opener
    for db in opened:
        db.close()
    if backend == "monetdb":
        settings = monetdb_settings()
        assert settings is not None
        drop_schemas(settings, [schema])


@pytest.fixture
def db(open_db: Opener) -> Database:
    return open_db()


EVERY_TYPE = pa.schema(
    [
        pa.field("n", pa.int64()),
        pa.field("x", pa.float64()),
        pa.field("s", pa.string()),
        pa.field("b", pa.bool_()),
    ]
)


def every_type_table() -> pa.Table:
    return pa.table(
        {
            "n": [1, None, -(2**63) + 1, 2**63 - 1, 0],
            "x": [0.1, None, -1.5e300, 1e-300, 123456789.123456789],
            "s": ["plain", None, "", "quote ' \" back\\slash % ? ; --", "ünïcødé\nnew line\ttab"],
            "b": [True, None, False, True, False],
        },
        schema=EVERY_TYPE,
    )


def meta(name: str, privacy: Privacy = Privacy.SHAREABLE, private_rows: int | None = None) -> TableMeta:
    return TableMeta(name, privacy, "exp1", private_rows)


def create(db: Database, table_meta: TableMeta, table: pa.Table) -> TableMeta:
    """One table through the backend's one writing path (the table store's batches)."""
    db.write_batch([(table_meta, table)], [], [])
    return db.table_meta(table_meta.name)


# -- create, copy in, read back ------------------------------------------------------------


def test_every_type_and_null_reads_back_unchanged(db: Database) -> None:
    # Arrange
    table = every_type_table()

    # Act
    stored = create(db, meta("t_types"), table)

    # Assert
    assert stored.row_count == 5
    assert db.read_table("t_types").schema == EVERY_TYPE
    assert db.read_table("t_types").to_pylist() == table.to_pylist()


def test_an_empty_table_keeps_every_column_type(db: Database) -> None:
    # Act
    stored = create(db, meta("t_empty"), EVERY_TYPE.empty_table())

    # Assert
    assert stored.row_count == 0
    assert db.read_table("t_empty").schema == EVERY_TYPE


def test_a_table_of_many_batches_reads_back_in_order(db: Database) -> None:
    # Arrange
    values = np.arange(10_000, dtype=np.int64)
    table = pa.table({"i": values, "v": values * 0.5})

    # Act
    create(db, meta("t_batches"), pa.Table.from_batches(table.to_batches(max_chunksize=999)))

    # Assert
    assert db.read_table("t_batches").equals(table)


def test_a_taken_name_is_refused_and_the_first_table_kept(db: Database) -> None:
    # Arrange
    table = pa.table({"i": [1, 2]})
    create(db, meta("t_dup"), table)

    # Act / Assert
    with pytest.raises(AlreadyExistsError):
        create(db, meta("t_dup"), table)
    assert db.read_table("t_dup").column("i").to_pylist() == [1, 2]


def test_an_invalid_table_name_is_refused(db: Database) -> None:
    with pytest.raises(InvalidRequestError):
        create(db, meta('bad"; DROP TABLE x; --'), pa.table({"i": pa.array([], pa.int64())}))


# -- delete ------------------------------------------------------------------------------


def test_dropped_tables_are_gone_with_their_metadata(db: Database) -> None:
    # Arrange
    table = pa.table({"i": [1]})
    for name in ("t_a", "t_b"):
        create(db, meta(name), table)

    # Act
    db.write_batch([], ["t_a", "t_missing"], [])

    # Assert
    with pytest.raises(NotFoundError):
        db.table_meta("t_a")
    assert [m.name for m in db.experiment_tables("exp1")] == ["t_b"]


# -- privacy metadata --------------------------------------------------------------------


def test_privacy_and_private_rows_are_recorded(db: Database) -> None:
    # Arrange
    table = pa.table({"i": [1, 2, 3]})

    # Act
    create(db, meta("t_private", Privacy.PRIVATE, 40), table)
    create(db, meta("t_shared", Privacy.SHAREABLE, 40), table)
    create(db, meta("t_aggregate", Privacy.SHAREABLE, None), table)

    # Assert
    assert db.table_meta("t_private") == TableMeta("t_private", Privacy.PRIVATE, "exp1", 40, 3)
    assert db.table_meta("t_shared").private_rows == 40
    assert db.table_meta("t_aggregate").private_rows is None
    assert {m.name: m.privacy for m in db.experiment_tables()} == {
        "t_aggregate": Privacy.SHAREABLE,
        "t_private": Privacy.PRIVATE,
        "t_shared": Privacy.SHAREABLE,
    }
    assert db.experiment_tables("other") == []


# -- data models and datasets ------------------------------------------------------------

COLUMNS = {"dataset": "text", "age": "int", "score": "real"}


def rows(dataset: str, ages: list[int | None], scores: list[float | None]) -> pa.Table:
    return pa.table(
        {"dataset": [dataset] * len(ages), "age": ages, "score": scores},
        schema=pa.schema([("dataset", pa.string()), ("age", pa.int64()), ("score", pa.float64())]),
    )


def load_two_datasets(db: Database) -> None:
    db.save_data_model("demo:1.0", '{"code": "demo"}', "primary_demo_1_0", COLUMNS)
    db.load_dataset(
        "demo:1.0",
        "primary_demo_1_0",
        [DatasetRecord("demo:1.0", "d1", 3, "First"), DatasetRecord("demo:1.0", "d2", 2, "")],
        pa.concat_tables([rows("d1", [50, None, 70], [1.5, 2.5, None]), rows("d2", [60, 61], [0.0, -1.0])]),
    )


def test_a_data_model_and_its_datasets_load(db: Database) -> None:
    # Act
    load_two_datasets(db)

    # Assert
    assert db.data_models() == {"demo:1.0": ('{"code": "demo"}', "primary_demo_1_0")}
    assert db.datasets() == [DatasetRecord("demo:1.0", "d1", 3, "First"), DatasetRecord("demo:1.0", "d2", 2, "")]
    primary = db.table_meta("primary_demo_1_0")
    assert (primary.privacy, primary.row_count) == (Privacy.PRIMARY, 5)
    assert db.read_table("primary_demo_1_0").column("age").to_pylist() == [50, None, 70, 60, 61]
    assert db.experiment_tables() == []


def test_a_dataset_loaded_twice_is_refused_and_nothing_of_the_second_load_written(db: Database) -> None:
    # Arrange
    load_two_datasets(db)

    # Act
    with pytest.raises(AlreadyExistsError):
        db.load_dataset(
            "demo:1.0",
            "primary_demo_1_0",
            [DatasetRecord("demo:1.0", "d3", 1, ""), DatasetRecord("demo:1.0", "d1", 1, "")],
            pa.concat_tables([rows("d3", [1], [1.0]), rows("d1", [2], [2.0])]),
        )

    # Assert
    assert [d.code for d in db.datasets()] == ["d1", "d2"]
    assert db.table_meta("primary_demo_1_0").row_count == 5


def test_primary_data_cannot_be_dropped(db: Database) -> None:
    # Arrange
    load_two_datasets(db)

    # Act / Assert
    with pytest.raises(InvalidRequestError):
        db.write_batch([], ["primary_demo_1_0"], [])
    assert db.table_meta("primary_demo_1_0").row_count == 5


# -- queries with bound parameters ---------------------------------------------------------


def test_a_query_binds_parameters(db: Database) -> None:
    # Arrange
    load_two_datasets(db)
    hostile = "d2' OR '1'='1"
    sql = 'SELECT "dataset", "age" FROM "primary_demo_1_0" WHERE "dataset" IN (?, ?) AND "age" >= ?'

    # Act
    result = db.query(sql, ["d1", hostile, 55])

    # Assert
    assert result.to_pylist() == [{"dataset": "d1", "age": 70}]


def test_query_binds_text_with_percent_and_question_marks(db: Database) -> None:
    # Arrange
    table = pa.table({"s": ["a%b?", "a%%b", "x"]})
    create(db, meta("t_text"), table)

    # Act
    result = db.query('SELECT "s", count(*) AS n FROM "t_text" WHERE "s" = ? GROUP BY "s"', ["a%b?"])

    # Assert
    assert result.to_pylist() == [{"s": "a%b?", "n": 1}]


def test_a_query_with_a_decimal_column_reads_it_as_double(db: Database) -> None:
    # Act: MonetDB cannot send DECIMAL as a binary column, so this takes its other read path
    result = db.query("SELECT CAST(? AS DECIMAL(10, 2)) AS d, 7 AS n", [1.25])

    # Assert
    assert result.schema == pa.schema([("d", pa.float64()), ("n", pa.int64())])
    assert result.to_pylist() == [{"d": 1.25, "n": 7}]


def test_a_failed_write_batch_leaves_nothing_of_the_batch(db: Database) -> None:
    # Arrange: a table the batch drops, and a batch that fails on its last operation
    load_two_datasets(db)
    table = pa.table({"i": [1, 2]})
    create(db, meta("t_old"), table)

    # Act
    with pytest.raises(InvalidRequestError, match="primary"):
        db.write_batch(
            [(meta("t_new"), table), (meta("t_newer"), table)], ["t_old", "primary_demo_1_0"], [("r1", b"done")]
        )

    # Assert
    with pytest.raises(NotFoundError):
        db.table_meta("t_new")
    assert [m.name for m in db.experiment_tables()] == ["t_old"]
    assert db.read_table("t_old").column("i").to_pylist() == [1, 2]
    assert db.remembered_response("r1") is None


def test_a_write_batch_creates_drops_and_remembers(db: Database) -> None:
    # Arrange
    table = every_type_table()
    create(db, meta("t_old"), table)

    # Act
    db.write_batch([(meta("t_a"), table), (meta("t_b", Privacy.PRIVATE, 9), table)], ["t_old"], [("r1", b"x")])

    # Assert
    assert [m.name for m in db.experiment_tables()] == ["t_a", "t_b"]
    assert db.read_table("t_b").to_pylist() == table.to_pylist()
    assert db.table_meta("t_b") == TableMeta("t_b", Privacy.PRIVATE, "exp1", 9, 5)
    assert db.remembered_response("r1") == b"x"


def test_a_request_response_is_remembered_and_replaced(db: Database) -> None:
    # Act
    db.write_batch([], [], [("r1", b"\x00first\xff")])
    db.write_batch([], [], [("r1", b"\x00second\xff")])

    # Assert
    assert db.remembered_response("r1") == b"\x00second\xff"
    assert db.remembered_response("r2") is None


# -- restart persistence -------------------------------------------------------------------


def test_everything_survives_close_and_reopen(open_db: Opener) -> None:
    # Arrange
    first = open_db()
    load_two_datasets(first)
    table = every_type_table()
    create(first, meta("t_keep", Privacy.PRIVATE, 5), table)
    first.write_batch([], [], [("r1", b"done")])
    first.close()

    # Act
    again = open_db()

    # Assert
    assert again.read_table("t_keep").to_pylist() == table.to_pylist()
    assert again.table_meta("t_keep") == TableMeta("t_keep", Privacy.PRIVATE, "exp1", 5, 5)
    assert [d.code for d in again.datasets()] == ["d1", "d2"]
    assert "demo:1.0" in again.data_models()
    assert again.remembered_response("r1") == b"done"
    assert again.status() == "ok"


# -- whole experiments on nodes that all use the backend ------------------------------------

VARIABLES = ["hippocampus", "entorhinal", "ventricles"]


@pytest.fixture
def federation(backend: str, tmp_path: Path) -> Iterator[LocalFederation]:
    folders = write_demo_federation(tmp_path / "data", num_locals=2, rows_per_dataset=120, seed=5)
    settings: dict[str, object] = {"db_backend": backend} | REFERENCE_DISCLOSURE  # compared with plain Lloyd
    monetdb = monetdb_settings()
    node_schemas = ["mip_global", "mip_local1", "mip_local2"]
    if backend == "monetdb":
        assert monetdb is not None
        drop_schemas(monetdb, node_schemas)
        settings |= node_settings(monetdb)
    federation = LocalFederation(tmp_path / "run", [[f] for f in folders], node_settings=settings)
    federation.start()
    try:
        yield federation
    finally:
        federation.stop()
        if backend == "monetdb":
            assert monetdb is not None
            drop_schemas(monetdb, node_schemas)


def pooled(data_dir: Path, columns: list[str]) -> np.ndarray:
    found = []
    for path in sorted(data_dir.glob("local*/*.csv")):
        with path.open(newline="") as handle:
            for record in csv.DictReader(handle):
                values = [record[c] for c in columns]
                if all(v != "" for v in values):
                    found.append([float(v) for v in values])
    return np.array(found)


KMEANS = {"numOfClusters": 3, "numOfIterations": 5, "initialMin": 0.0, "initialMax": 10.0, "seed": 3}


def test_kmeans_and_linear_regression_run_whole_on_the_backend(federation: LocalFederation, tmp_path: Path) -> None:
    # Arrange
    points = pooled(tmp_path / "data", VARIABLES)
    regression = pooled(tmp_path / "data", ["cognition", "hippocampus", "entorhinal"])
    design = np.column_stack([np.ones(len(regression)), regression[:, 1:]])
    expected_coefficients = np.linalg.lstsq(design, regression[:, 0], rcond=None)[0]

    with Controller(federation.controller_address) as controller:
        datasets = [d.code for d in controller.datasets()]

        # Act
        kmeans = controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=datasets,
            y=VARIABLES,
            parameters=KMEANS,
        )
        linear = controller.run(
            "linear_regression",
            data_model="demo:1.0",
            datasets=datasets,
            y=["cognition"],
            x=["hippocampus", "entorhinal"],
        )

    # Assert
    expected = lloyd(points, KMEANS)["centroids"]
    np.testing.assert_allclose(np.array(kmeans.result["centroids"]), expected, rtol=1e-9, atol=1e-9)
    assert kmeans.result["n_obs"] == len(points)
    np.testing.assert_allclose(linear.result["coefficients"], expected_coefficients, rtol=1e-8, atol=1e-10)
    assert linear.result["n_obs"] == len(regression)
