"""Fixture: a Python block that misbehaves on request, for the host's tests.

Settings: {"do": "raise" | "open" | "print"}. `raise` raises a ValueError out of
`transform`; `open` reads a host file and returns what happened as its one row; `print`
prints to stdout and stderr and passes its input through.
"""

import json
import sys

from wit_world import exports
from wit_world.imports.types import (
    Column,
    ColumnValues_Text,
    DataFormat,
    Metadata,
    NamedTable,
    Port,
    Table,
    TableData_Columns,
)


def one_row(text: str) -> NamedTable:
    column = Column("result", ColumnValues_Text([text]), None)
    return NamedTable("out", TableData_Columns(Table(1, [column])))


class Block(exports.Block):
    def describe(self) -> Metadata:
        return Metadata(
            name="python-fixture",
            version="1.0.0",
            description="misbehaves on request",
            config_schema=json.dumps({"type": "object"}),
            inputs=[Port("in", "any table", None)],
            outputs=[Port("out", "what happened", None)],
            input_format=DataFormat.COLUMNS,
        )

    def transform(self, config: str, inputs: list) -> list:
        do = json.loads(config).get("do")
        if do == "raise":
            raise ValueError("the fixture was asked to fail")
        if do == "open":
            try:
                with open("/etc/passwd") as f:
                    return [one_row("read: " + f.read(20))]
            except OSError as e:
                return [one_row(f"refused: {type(e).__name__}")]
        print("python on stdout")
        print("python on stderr", file=sys.stderr)
        return [NamedTable("out", inputs[0].data)]
