"""JSON records to Arrow: where the records sit in a response, and how they become columns.

Each top-level field of a record becomes a column, in order of first appearance.
Nested objects and arrays arrive as JSON text typed ``arrow.json`` (DuckDB's ``JSON``:
``col->>'$.city'`` reads into it). Structs were the alternative; JSON text is what
headgate chose because its type does not change when one page lacks a nested field
that the next page has, so pages of one read stack into one table.

Scalars: integers -> int64, numbers with a fraction -> float64 (a column mixing both
is float64), strings -> string (dates stay text: JSON has no date type), booleans ->
bool, all-null -> null. A field whose values mix kinds (``12`` and ``"12"``) arrives as
text. Pages are typed one by one: combine them with
``pyarrow.concat_tables(pages, promote_options="permissive")``, which widens ``null``
and ``int64`` as needed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


class RecordsNotFound(ValueError):
    """The records path does not lead anywhere in the response."""


class MalformedRecord(ValueError):
    """A record is not a JSON object."""

    def __init__(self, index: int, value: Any) -> None:
        kind = type(value).__name__ if value is not None else "null"
        super().__init__(f"record {index} is a JSON {_json_kind(kind)}, not an object")
        self.index = index


def path_parts(path: str) -> list[str]:
    """``$.data.items`` / ``data.items`` / ``$`` -> the keys (or list indexes) to follow."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    return [part for part in text.split(".") if part]


def find(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``; :class:`RecordsNotFound` says where it stopped."""
    value = document
    walked = "$"
    for part in path_parts(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            if isinstance(value, dict):
                keys = ", ".join(sorted(value)[:20]) or "none"
                raise RecordsNotFound(f"no key {part!r} at {walked} (its keys: {keys})")
            raise RecordsNotFound(
                f"cannot take {part!r} of {walked}: it is a JSON {_json_kind(type(value).__name__)}"
            )
        walked = f"{walked}.{part}"
    return value


def find_optional(document: Any, path: str) -> Any:
    """The value at ``path``, or None where the path does not exist (a last page's cursor)."""
    try:
        return find(document, path)
    except RecordsNotFound:
        return None


def records_at(document: Any, path: str) -> list[Any]:
    """The records at ``path``: a list as is, one object as one record, null as none."""
    value = find(document, path)
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise RecordsNotFound(
        f"{path!r} holds a JSON {_json_kind(type(value).__name__)}, not a list of records"
    )


def records_to_table(records: list[Any]) -> pa.Table:
    """One Arrow table from JSON objects (see the module's docstring for the types)."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise MalformedRecord(index, record)
        names.update(dict.fromkeys(record))
    columns = {name: _column([record.get(name) for record in records]) for name in names}
    return pa.table(columns) if columns else pa.table({})


def _column(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    kinds = {_kind(value) for value in values if value is not None}
    if not kinds:
        return pa.nulls(len(values))
    if "nested" in kinds:
        return pa.array([None if v is None else _dumps(v) for v in values], pa.json_())
    if kinds == {"bool"}:
        return pa.array(values, pa.bool_())
    if kinds <= {"int", "float"}:
        try:
            return pa.array(values, pa.int64() if kinds == {"int"} else pa.float64())
        except (pa.ArrowInvalid, OverflowError):
            pass  # an integer beyond 64 bits: keep its digits as text
    if kinds == {"str"}:
        return pa.array(values, pa.string())
    return pa.array(
        [None if v is None else v if isinstance(v, str) else _dumps(v) for v in values],
        pa.string(),
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "nested"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_kind(python_kind: str) -> str:
    return {
        "str": "string",
        "int": "number",
        "float": "number",
        "bool": "boolean",
        "list": "array",
        "dict": "object",
        "NoneType": "null",
    }.get(python_kind, python_kind)
