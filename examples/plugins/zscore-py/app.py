"""A Vitrine block in Python: the z-score anomaly flag of ../zscore, value for value.

For a number column it adds the z-score of each value (how many standard deviations it
lies from the column's mean) and a flag for values whose absolute z-score exceeds a
threshold. Build it with

    componentize-py -d wit -w plugin componentize app -o zscore.wasm
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    BlockError_InvalidConfig,
    Column,
    ColumnValues_Boolean,
    ColumnValues_Float64,
    ColumnValues_Int64,
    DataFormat,
    Metadata,
    NamedTable,
    Port,
    Table,
    TableData_Columns,
)

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "column": {"type": "string", "minLength": 1, "description": "the number column to score"},
        "threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 3,
            "description": "flag values whose |z| exceeds this",
        },
        "prefix": {"type": "string", "default": "", "description": "prefix of the added column names"},
    },
    "required": ["column"],
    "additionalProperties": False,
}


def numbers(table: Table, name: str) -> list:
    """The column's values as floats, None where null; refuses a missing or text column."""
    column = next((c for c in table.columns if c.name == name), None)
    if column is None:
        names = ", ".join(c.name for c in table.columns)
        raise Err(BlockError_InvalidConfig(f"the input has no column `{name}`; its columns are {names}"))
    if not isinstance(column.values, (ColumnValues_Float64, ColumnValues_Int64)):
        kind = type(column.values).__name__.removeprefix("ColumnValues_").lower()
        raise Err(BlockError_InvalidConfig(f"column `{name}` is {kind}, not a number"))
    valid = column.validity
    return [float(v) if valid is None or valid[i] else None for i, v in enumerate(column.values.value)]


def with_column(columns: list, column: Column) -> list:
    """Adds a column, or replaces the one of the same name."""
    for i, c in enumerate(columns):
        if c.name == column.name:
            return columns[:i] + [column] + columns[i + 1 :]
    return columns + [column]


def optional(name: str, values: list, make, fill) -> Column:
    validity = [v is not None for v in values]
    plain = [fill if v is None else v for v in values]
    return Column(name, make(plain), None if all(validity) else validity)


class Block(exports.Block):
    def describe(self) -> Metadata:
        return Metadata(
            name="zscore-py",
            version="1.0.0",
            description="Adds the z-score of a number column and flags values beyond a threshold (Python)",
            config_schema=json.dumps(CONFIG_SCHEMA),
            inputs=[Port("in", "rows with a number column", None)],
            outputs=[Port("out", "the same rows with `zscore` and `anomaly` added", None)],
            input_format=DataFormat.COLUMNS,
        )

    def transform(self, config: str, inputs: list) -> list:
        settings = json.loads(config)
        column = settings["column"]
        threshold = float(settings.get("threshold", 3))
        prefix = settings.get("prefix", "")
        table = next(t.data.value for t in inputs if t.port == "in")
        values = numbers(table, column)

        # Summed in row order, as the Rust block does, so both give the same bits.
        present = [v for v in values if v is not None]
        n = float(len(present))
        total = 0.0
        for v in present:
            total += v
        mean = total / max(n, 1.0)
        squares = 0.0
        for v in present:
            squares += (v - mean) * (v - mean)
        sd = math.sqrt(squares / max(n, 1.0))
        host.log(
            host.Level.INFO,
            f"{column}: mean {mean:.4f}, standard deviation {sd:.4f} over {len(present)} values",
        )

        # A constant column has no spread: nothing in it is an anomaly.
        z = [None if v is None else ((v - mean) / sd if sd > 0 else 0.0) for v in values]
        flags = [None if s is None else abs(s) > threshold for s in z]
        columns = with_column(table.columns, optional(f"{prefix}zscore", z, ColumnValues_Float64, 0.0))
        columns = with_column(columns, optional(f"{prefix}anomaly", flags, ColumnValues_Boolean, False))
        return [NamedTable("out", TableData_Columns(Table(table.rows, columns)))]
