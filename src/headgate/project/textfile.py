"""Reading a project's text files (SQL, YAML, Python): UTF-8, or an error that says where it is not.

A file saved in another encoding (latin-1, Windows-1252) or a binary file under a text
name is refused with the byte offset, line and column of the first byte that does not
decode, and what to do about it, never a ``UnicodeDecodeError`` traceback. A UTF-8 byte
order mark, which some Windows editors write, is read as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from headgate.errors import Location, ProjectError

UTF8_HINT = (
    "save the file as UTF-8 (most editors offer it on 'Save as'; or `iconv -f latin1 -t utf-8`)"
)


@dataclass(frozen=True)
class DecodeProblem:
    """Where bytes stop decoding: 0-based byte offset, 1-based line and column."""

    offset: int
    line: int
    column: int
    byte: int
    binary: bool  # NUL bytes: not text at all

    def describe(self, encoding: str = "UTF-8") -> str:
        if self.binary:
            return (
                f"it is not {encoding} text but binary data (a NUL byte at byte offset "
                f"{self.offset}, line {self.line})"
            )
        return (
            f"it is not {encoding} text: byte 0x{self.byte:02x} at byte offset {self.offset} "
            f"(line {self.line}, column {self.column}) does not decode"
        )


def decode_problem(data: bytes, error: UnicodeDecodeError | None) -> DecodeProblem:
    """Where ``data`` fails to decode (``error`` from decoding it), or where its first NUL is."""
    nul = data.find(b"\0")
    if error is None or (nul != -1 and nul < error.start):
        offset, binary = max(nul, 0), True
    else:
        offset, binary = error.start, False
    before = data[:offset]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return DecodeProblem(offset, line, column, data[offset] if offset < len(data) else 0, binary)


def decode_utf8(data: bytes, path: Path) -> str:
    """``data`` read from ``path`` as UTF-8 text (a byte order mark dropped)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = decode_problem(data, exc)
        raise ProjectError(
            problem.describe(), Location(path, problem.line, problem.column), hint=UTF8_HINT
        ) from None
    if "\0" in text:
        problem = decode_problem(data, None)
        raise ProjectError(
            problem.describe(),
            Location(path, problem.line),
            hint="is this the right file? a project's SQL, YAML and Python files are text",
        )
    return text


def read_text(path: Path) -> str:
    """A project text file's content; unreadable or non-UTF-8 files raise :class:`ProjectError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"cannot read file: {exc.strerror}", Location(path)) from None
    return decode_utf8(data, path)
