"""MIP data models on a node: CDE files parsed, CSV folders checked and loaded, the catalogue."""

from mip_node.data_models._cdes import (
    CDES_FILE,
    CdeVariable,
    DataModelSpec,
    parse_cdes,
    primary_table_name,
)
from mip_node.data_models._loading import data_catalogue, load_folder

__all__ = [
    "CDES_FILE",
    "CdeVariable",
    "DataModelSpec",
    "data_catalogue",
    "load_folder",
    "parse_cdes",
    "primary_table_name",
]
