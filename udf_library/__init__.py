"""UDFs: plain typed Python functions that a node runs next to its data.

Each ``<algo>_udfs.py`` module holds the UDFs of one algorithm. A UDF takes
``ArrayBundle`` tables and literals and returns ``ArrayBundle`` tables; it knows
nothing of gRPC, SQL or the network.
"""

from udf_library._bundle import ArrayBundle, kind_of
from udf_library._call import (
    CellRuleError,
    CheckedOutput,
    OutputRefusedError,
    PreparedCall,
    RowRuleError,
    TableArgument,
    TooFewInputRowsError,
    UdfArgumentError,
    UdfCallError,
    UdfReturnError,
    check_argument_names,
    check_outputs,
    prepare_call,
    returned_tables,
)
from udf_library._errors import UdfInputError
from udf_library._folds import assign_folds
from udf_library._literals import coerce_literal, plain_json, wire_literal
from udf_library._policy import DEFAULT_MIN_ROWS, EXTREMES_MODES, DisclosurePolicy
from udf_library._privacy import SMALL_CELL_RULE, shareable_output_problem, small_cell_problem
from udf_library._registry import discover_udfs
from udf_library._secure_sum import (
    FRACTION_BITS,
    SECURE_SUM,
    SecureSumError,
    decode_fixed,
    encode_fixed,
    fixed_point_bound,
    sum_masked_parts,
    sum_parts,
    value_matrix,
    words_bundle,
)
from udf_library._udf import LITERAL_TYPE_NAMES, WHOLE_VIEW, Output, UdfInput, UdfSpec, private, shared, udf, udf_spec

__all__ = [
    "DEFAULT_MIN_ROWS",
    "EXTREMES_MODES",
    "FRACTION_BITS",
    "LITERAL_TYPE_NAMES",
    "SECURE_SUM",
    "SMALL_CELL_RULE",
    "WHOLE_VIEW",
    "ArrayBundle",
    "CellRuleError",
    "CheckedOutput",
    "DisclosurePolicy",
    "Output",
    "OutputRefusedError",
    "PreparedCall",
    "RowRuleError",
    "SecureSumError",
    "TableArgument",
    "TooFewInputRowsError",
    "UdfArgumentError",
    "UdfCallError",
    "UdfInput",
    "UdfInputError",
    "UdfReturnError",
    "UdfSpec",
    "assign_folds",
    "check_argument_names",
    "check_outputs",
    "coerce_literal",
    "decode_fixed",
    "discover_udfs",
    "encode_fixed",
    "fixed_point_bound",
    "kind_of",
    "plain_json",
    "prepare_call",
    "private",
    "returned_tables",
    "shareable_output_problem",
    "shared",
    "small_cell_problem",
    "sum_masked_parts",
    "sum_parts",
    "udf",
    "udf_spec",
    "value_matrix",
    "wire_literal",
    "words_bundle",
]
