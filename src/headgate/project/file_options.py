"""How a file source's text files are read: encodings and CSV characters, checked when the project loads.

DuckDB reads CSV files in UTF-8, UTF-16 (little-endian) and latin-1 without
extensions, so those are the encodings a source may name; headgate reads a file's
header in Python with the same decoding, so the header a plan shows is the one the
load sees.
"""

from __future__ import annotations

FORMATS = ("csv", "tsv", "parquet", "json", "ndjson")
SUFFIX_FORMATS = {"jsonl": "ndjson", "txt": "csv"}

# encoding as written (lower case, '_' read as '-') -> the name DuckDB's read_csv takes
_ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "utf-16le": "utf-16",
    "utf-16-le": "utf-16",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "l1": "latin-1",
}
# DuckDB's encoding -> Python's codec for the same bytes (UTF-8 may start with a BOM)
PYTHON_CODECS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}
ENCODED_FORMATS = ("csv", "tsv")  # JSON is UTF-8 by definition (RFC 8259)


def file_encoding(value: str) -> str:
    """``UTF8``, ``latin1``, ``ISO-8859-1`` ... -> ``utf-8`` | ``utf-16`` | ``latin-1``."""
    key = value.strip().lower().replace("_", "-")
    if key in _ENCODINGS:
        return _ENCODINGS[key]
    raise ValueError(
        f"'{value}' is not an encoding headgate reads files in: use utf-8 (the default), "
        "utf-16 (little-endian) or latin-1. A Windows-1252 file reads as latin-1 except its "
        "bytes 0x80-0x9f (the euro sign, curly quotes): convert such a file with "
        "`iconv -f cp1252 -t utf-8`"
    )


def one_character(value: str, what: str) -> str:
    if len(value) != 1 or value in "\r\n":
        raise ValueError(f"{what} is one character (not a line break), found {value!r}")
    return value


def delimiter_text(value: str) -> str:
    if not 1 <= len(value.encode()) <= 4 or any(c in "\r\n" for c in value):
        raise ValueError(
            f"a delimiter is 1 to 4 bytes without line breaks, found {value!r} "
            "(write '\\t' in double quotes for a tab)"
        )
    return value


def format_of(path: str, declared: str | None) -> str:
    """The file format: as declared, or from the path's suffix; ValueError when unknown."""
    if declared:
        return declared
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    found = SUFFIX_FORMATS.get(suffix, suffix)
    if found not in FORMATS:
        raise ValueError(
            f"cannot tell the format of '{path}' from its name: add format: {' | '.join(FORMATS)}"
        )
    return found
