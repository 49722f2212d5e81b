"""The query that reads a file source's files: used to load it, and to see its columns before loading.

>>> from pathlib import Path
>>> from headgate.project.config import FileTableConfig
>>> from headgate.project.loader import SourceTable
>>> table = SourceTable("shop.orders", "shop", "orders", FileTableConfig(path="o.csv"), Path("s.yml"), [("o.csv", 1, "h")])
>>> file_scan_sql(table, Path("/p"))
"SELECT * FROM read_csv(['/p/o.csv'], header=true, delim=',', union_by_name=true)"
"""

from __future__ import annotations

from pathlib import Path

from headgate.errors import HeadgateError
from headgate.project.loader import SourceTable

READERS = {
    "parquet": "read_parquet({files}, union_by_name=true)",
    "ndjson": "read_json({files}, format='newline_delimited', union_by_name=true)",
    "json": "read_json({files}, format='auto', union_by_name=true)",
}


def file_scan_sql(source: SourceTable, root: Path) -> str:
    if not source.files:
        raise HeadgateError(
            f"source {source.name}: no file matches '{source.config.path}'",
            hint=f"check the path in {source.declared_in.name} (relative to the project folder)",
        )
    files = "[" + ", ".join(_string(str(root / f)) for f, _, _ in source.files) + "]"
    fmt = source.config.resolved_format()
    if fmt in ("csv", "tsv"):
        delimiter = source.config.delimiter or ("\t" if fmt == "tsv" else ",")
        header = str(source.config.header).lower()
        reader = (
            f"read_csv({files}, header={header}, delim={_string(delimiter)}, union_by_name=true)"
        )
    elif fmt in READERS:
        reader = READERS[fmt].format(files=files)
    else:
        raise HeadgateError(
            f"source {source.name}: unknown file format '{fmt}'",
            hint="use csv, tsv, parquet, json or ndjson",
        )
    return f"SELECT * FROM {reader}"


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
