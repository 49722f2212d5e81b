"""The first record of a CSV or TSV file, read within bounds and decoded as the source says.

A plan shows a new file's columns and a load checks them against the contract, both
from this header. It is read with limits, so a file that is not what it claims (a
3 MB file written on one line, a binary file named ``.csv``) fails at once with what is
wrong and what to do, instead of holding a run's locks while the warehouse sniffs
hundreds of thousands of columns.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.project.file_options import ENCODED_FORMATS, PYTHON_CODECS
from headgate.project.textfile import DecodeProblem, decode_problem

if TYPE_CHECKING:
    from headgate.project.config import FileTableConfig
    from headgate.project.loader import SourceTable

MAX_HEADER_BYTES = 1 << 20  # the first line of a CSV file, header or not
MAX_COLUMNS = 10_000
READ_CHUNK = 1 << 16
PREFIX_BYTES = 1 << 18  # decoded before a load or plan reads the file's types


class FileRefused(HeadgateError):
    """A source file cannot be read as its source says (encoding, shape); nothing was loaded."""


def read_first_record(source: SourceTable, path: Path, relative: str) -> list[str]:
    """The fields of the file's first line (its column names when it has a header)."""
    config: FileTableConfig = source.config
    text = read_prefix(source, path, relative, whole_first_line=True)
    delimiter = config.delimiter or ("\t" if config.resolved_format() == "tsv" else ",")
    quote = config.quote or '"'
    try:
        reader = csv.reader(
            io.StringIO(text),
            delimiter=delimiter if len(delimiter) == 1 else ",",
            quotechar=quote,
            escapechar=config.escape if config.escape and config.escape != quote else None,
            doublequote=not config.escape or config.escape == quote,
        )
        first = next(reader, [])
    except csv.Error as exc:
        raise FileRefused(f"{relative}:1: the first line cannot be read as CSV: {exc}") from None
    if len(delimiter) > 1:  # the csv module takes one character: split the fields ourselves
        first = "".join(first).split(delimiter) if first else []
    if not first:
        raise FileRefused(
            f"{relative} is empty: it has no first line"
            + (" to name its columns" if config.header else ""),
            hint="remove the file, or write at least its header line",
        )
    if len(first) > MAX_COLUMNS:
        raise FileRefused(
            f"{relative}:1: the first line has {len(first):,} fields, more than the "
            f"{MAX_COLUMNS:,} columns a file source reads",
            hint=_shape_hint(source),
        )
    if config.header:
        _check_names([name.strip() for name in first], source, relative)
    return [name.strip() for name in first]


def read_prefix(
    source: SourceTable, path: Path, relative: str, *, whole_first_line: bool = False
) -> str:
    """The file's first bytes decoded in its encoding; a byte that does not decode is named.

    Reads ``PREFIX_BYTES`` (about what the warehouse samples to infer types), and with
    ``whole_first_line`` on to the end of the first line, which may be no longer than
    ``MAX_HEADER_BYTES``.
    """
    head = b""
    try:
        with open(path, "rb") as handle:
            while len(head) < PREFIX_BYTES or (
                whole_first_line and b"\n" not in head and len(head) <= MAX_HEADER_BYTES
            ):
                chunk = handle.read(READ_CHUNK)
                if not chunk:
                    break
                head += chunk
    except OSError as exc:
        raise FileRefused(f"cannot read {relative}: {exc.strerror}") from None
    if whole_first_line:
        end = head.find(b"\n")
        if (end == -1 and len(head) > MAX_HEADER_BYTES) or end > MAX_HEADER_BYTES:
            raise FileRefused(
                f"{relative}:1: the first line is longer than {MAX_HEADER_BYTES >> 20} MB "
                "(no line break in it)",
                hint=_shape_hint(source),
            )
    return _decode(source, head, relative)


def _decode(source: SourceTable, head: bytes, relative: str) -> str:
    config: FileTableConfig = source.config
    encoding = config.encoding or "utf-8"
    if encoding == "utf-16" and head.startswith(codecs.BOM_UTF16_BE):
        raise FileRefused(
            f"{relative} is big-endian UTF-16, which the warehouse does not read",
            hint="save it as UTF-8 (or UTF-16 little-endian)",
        )
    decoder = codecs.getincrementaldecoder(PYTHON_CODECS[encoding])()
    try:
        text = decoder.decode(head, final=False)  # the last character may be cut in two
    except UnicodeDecodeError as exc:
        raise not_in_encoding(source, relative, decode_problem(head, exc)) from None
    if encoding != "utf-16" and "\0" in text:
        raise not_in_encoding(source, relative, decode_problem(head, None))
    return text


def not_in_encoding(source: SourceTable, relative: str, problem: DecodeProblem) -> FileRefused:
    """The file does not decode in the source's encoding: where, and what to set."""
    encoding = (source.config.encoding or "utf-8").upper()
    where = f"{relative}:{problem.line}"
    if problem.binary:
        return FileRefused(
            f"{where}: {problem.describe(encoding)}; nothing loaded",
            hint=f"is it a {source.config.resolved_format().upper()} file? remove it or "
            f"correct the path of {source.table} in {_source_file(source)}",
        )
    if source.config.resolved_format() not in ENCODED_FORMATS:
        return FileRefused(
            f"{where}: {problem.describe(encoding)}; nothing loaded",
            hint="JSON is UTF-8 by definition: save the file as UTF-8",
        )
    return FileRefused(
        f"{where}: {problem.describe(encoding)}; nothing loaded",
        hint=f"if the file is in another encoding, set `encoding:` of {source.table} in "
        f"{_source_file(source)} (utf-8, utf-16 or latin-1), or save the file as UTF-8",
    )


def first_undecodable(source: SourceTable, path: Path) -> DecodeProblem | None:
    """Where a UTF-8 file first fails to decode: its byte offset, line and column.

    Read line by line, so memory stays small; used only once the warehouse found such a
    line (latin-1 decodes every byte, and a UTF-16 line break is not one byte).
    """
    if (source.config.encoding or "utf-8") != "utf-8":
        return None
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                found = decode_problem(raw, exc)
                return replace(found, offset=offset + found.offset, line=number)
            offset += len(raw)
    return None


def _check_names(names: list[str], source: SourceTable, relative: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise FileRefused(
                f"{relative}:1: column {position} of the header has no name",
                hint="name every column in the header line (or set header: false)",
            )
        first = seen.setdefault(name.lower(), position)
        if first != position:
            raise FileRefused(
                f"{relative}:1: the header names column '{name}' twice "
                f"(columns {first} and {position})",
                hint="give each column its own name; column names are not case-sensitive",
            )


def _shape_hint(source: SourceTable) -> str:
    fmt = source.config.resolved_format()
    return (
        f"is it a {fmt.upper()} file with one record per line? check the file, or the "
        f"format and delimiter of {source.table} in {_source_file(source)}"
    )


def _source_file(source: SourceTable) -> str:
    """``sources/shop.yml``: where the table is declared, as the user sees the project."""
    return f"{source.declared_in.parent.name}/{source.declared_in.name}"


def refuse_unless_parquet(source: SourceTable, path: Path, relative: str) -> None:
    """A Parquet file starts and ends with ``PAR1``; anything else is named, not sniffed."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(4)
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - 4, 0))
            end = handle.read(4)
    except OSError as exc:
        raise FileRefused(f"cannot read {relative}: {exc.strerror}") from None
    if size < 12 or start != b"PAR1" or end != b"PAR1":
        raise FileRefused(
            f"{relative} is not a Parquet file (it does not start and end with PAR1"
            + (", it is empty" if size == 0 else "")
            + "); nothing loaded",
            hint=f"check the file, or the path and format of {source.table} in "
            f"{_source_file(source)}",
        )
