"""Loading a file source: each new file once, checked against the source's contract on the way in.

The contract (column -> type) is inferred on the first load and pinned in the
source's YAML file. Later files that add, drop or rename columns follow the table's
``schema_policy``: ``fail`` stops the load and says what drifted, ``evolve`` widens
the table (and the pinned contract), ``quarantine`` sets the file aside in the
rejects table. Rows that cannot be parsed or cast go to ``<table>__rejects`` with the
file, the line, the raw record and the reason; the load goes on unless the rejected
share passes ``max_reject_fraction``. Everything for one run commits together, and
the files are recorded as loaded only after that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.engines.base import EngineSession, FileScan, quote
from headgate.errors import HeadgateError
from headgate.project.textfile import DecodeProblem
from headgate.sources.csvheader import (
    FileRefused,
    first_undecodable,
    not_in_encoding,
    read_first_record,
    read_prefix,
    refuse_unless_parquet,
)

if TYPE_CHECKING:
    from headgate.project.config import FileTableConfig
    from headgate.project.loader import SourceTable

REJECT_COLUMNS = (
    "file VARCHAR, line BIGINT, column_name VARCHAR, reason VARCHAR, raw_record VARCHAR, "
    "rejected_at TIMESTAMP"
)


class LoadRefused(HeadgateError):
    """The files drifted from the contract, or too many rows were rejected; nothing was loaded."""


@dataclass
class FileLoad:
    loaded: int = 0
    rejected: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    contract: dict[str, str] = field(default_factory=dict)
    contract_changed: bool = False

    def detail(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "files": len(self.files),
            "loaded": self.loaded,
            "rejected": self.rejected,
        }
        if self.drift:
            found["drift"] = self.drift
        if self.quarantined:
            found["quarantined"] = self.quarantined
        return found


def rejects_table(physical: str) -> str:
    return f"{physical}__rejects"


def file_table(view: str, digest: str) -> str:
    """The table one file's rows live in: named by the source and the file's content hash.

    Each file is loaded once, whatever environment or file set it belongs to later; a
    source's physical object is a view over its files' tables, so a new file makes a new
    view for the environment that loads it and leaves the others as they were.
    """
    schema, _, name = view.rpartition(".")
    source = name.rsplit("__", 1)[0]
    return f"{schema}.{source}__file_{digest[:16]}"


def incoming_columns(
    session: EngineSession, source: SourceTable, root: Path, view: str, existing: set[str]
) -> dict[str, str] | None:
    """The columns the files not loaded yet bring (a plan shows them before anything loads)."""
    session = session.file_reader()
    found: dict[str, str] = {}
    for relative, _, digest in source.files:
        if file_table(view, digest) in existing:
            continue
        for column, kind in _columns_of(session, source, root / relative, relative).items():
            found.setdefault(column, kind)
    return found or None


def refused_files(
    session: EngineSession, source: SourceTable, root: Path, view: str, existing: set[str]
) -> list[str]:
    """Why a run would refuse the files not loaded yet: their drift from a contract that
    ``schema_policy: fail`` enforces (a plan says so before anything loads)."""
    session = session.file_reader()
    config: FileTableConfig = source.config
    contract = dict(config.columns or {})
    if config.schema_policy != "fail" or not contract:
        return []  # evolve and quarantine load anyway; the first load pins the contract
    found = []
    for relative, _, digest in source.files:
        if file_table(view, digest) in existing:
            continue
        actual = _columns_of(session, source, root / relative, relative)
        added = [c for c in actual if c not in contract]
        missing = [c for c in contract if c not in actual]
        if added or missing:
            found.append(f"source {source.name}: {_describe(relative, added, missing)}")
    return found


def build_file_source(
    session: EngineSession, source: SourceTable, view: str, root: Path, *, fresh: bool
) -> FileLoad:
    """Load the files that have no table yet (all when ``fresh``), then make ``view`` over all of them."""
    config: FileTableConfig = source.config
    result = FileLoad(contract=dict(config.columns or {}))
    if not source.files:
        raise HeadgateError(
            f"source {source.name}: no file matches '{config.path}'",
            hint=f"check the path in {source.declared_in.name} (relative to the project folder)",
        )
    tables = [file_table(view, digest) for _, _, digest in source.files]
    reader = _file_reader(session, view)
    # an engine with its own file readers loads into the warehouse; another one's rows come
    # from the local reader (see ``Capabilities.loads_files``)
    native = session.capabilities.loads_files
    loader = session if native else reader
    # each new file's columns are read before the transaction: a file the warehouse cannot
    # sniff must not abort it, and a file that is not what it claims fails before any write
    sniffed = {
        relative: _columns_of(reader, source, root / relative, relative)
        for (relative, _, _), table in zip(source.files, tables, strict=True)
        if fresh or not session.table_exists(table)
    }
    made: list[str] = []
    with session.transaction(), _undone_on_failure(session, made, native):
        for (relative, size, digest), table in zip(source.files, tables, strict=True):
            if fresh:
                session.execute(f"DROP TABLE IF EXISTS {quote(table)}")
                session.execute(f"DROP TABLE IF EXISTS {quote(rejects_table(table))}")
            elif session.table_exists(table):
                continue
            made.append(table)
            if not native:
                reader.execute(f"CREATE TABLE {quote(rejects_table(table))} ({REJECT_COLUMNS})")
            before = (result.loaded, result.rejected)
            _load_file(loader, source, table, root / relative, relative, sniffed[relative], result)
            rows, rejected = result.loaded - before[0], result.rejected - before[1]
            result.files.append(
                {
                    "path": relative,
                    "size": size,
                    "content_hash": digest,
                    "rows": rows,
                    "rejected": rejected,
                }
            )
        loaded = [file_table(view, f["content_hash"]) for f in result.files]
        _refuse_if_too_many_rejects(loader, source, result, loaded)
        _bring_in(session, loader, loaded)
        _union_view(session, view, tables)
        _union_view(session, rejects_table(view), [rejects_table(t) for t in tables])
    return result


@contextmanager
def _undone_on_failure(session: EngineSession, made: list[str], native: bool) -> Iterator[None]:
    """A refused load leaves no file table behind where no transaction takes them back:
    a file whose table exists counts as loaded."""
    try:
        yield
    except BaseException:
        if native and not session.capabilities.transactional_ddl:
            for table in made:
                session.execute(f"DROP TABLE IF EXISTS {quote(table)}")
                session.execute(f"DROP TABLE IF EXISTS {quote(rejects_table(table))}")
        raise


def _file_scan(
    source: SourceTable,
    path: Path,
    relative: str,
    columns: dict[str, str],
    contract: dict[str, str],
    quarantine: str | None = None,
) -> FileScan:
    """One file as an engine with its own readers reads it (``EngineSession.load_file``)."""
    config: FileTableConfig = source.config
    fmt = config.resolved_format()
    quote_char = config.quote or '"'
    return FileScan(
        path=path,
        relative=relative,
        format=fmt,
        columns=columns,
        table_columns=dict(contract),
        header=config.header,
        delimiter=config.delimiter or ("\t" if fmt == "tsv" else ","),
        quote=quote_char,
        escape=config.escape or quote_char,
        encoding=config.encoding,
        quarantine=quarantine,
    )


def _file_reader(session: EngineSession, view: str) -> EngineSession:
    """Where the files are read: the warehouse itself, or a local reader (see ``copy_from``)."""
    reader = session.file_reader()
    if reader is not session:
        reader.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(view.rpartition('.')[0])}")
    return reader


def _bring_in(session: EngineSession, reader: EngineSession, tables: list[str]) -> None:
    """The tables the reader loaded (and their rejects), copied into the warehouse."""
    if reader is session:
        return
    for table in tables:
        for name in (table, rejects_table(table)):
            session.copy_from(reader, name)
            reader.execute(f"DROP TABLE {quote(name)}")


def _union_view(session: EngineSession, view: str, tables: list[str]) -> None:
    session.create_view_as(view, session.union_all_by_name(tables))


def _refuse_if_too_many_rejects(
    session: EngineSession, source: SourceTable, result: FileLoad, tables: list[str]
) -> None:
    config: FileTableConfig = source.config
    total = result.loaded + result.rejected
    if not total or result.rejected / total <= config.reject_limit:
        return
    loaded = {f["path"] for f in result.files}
    examples = [
        row
        for table in tables
        for row in session.execute(
            f"SELECT file, line, reason FROM {quote(rejects_table(table))} ORDER BY line LIMIT 3"
        )
        if row[0] in loaded
    ][:3]
    shown = "; ".join(f"{f}:{line}: {reason}" for f, line, reason in examples)
    raise LoadRefused(
        f"source {source.name}: {result.rejected:,} of {total:,} rows rejected "
        f"({result.rejected / total:.1%}), above the limit of {config.reject_limit:.1%}; "
        f"nothing loaded. For example: {shown}",
        hint=f"fix those rows, or raise max_reject_fraction of {source.table} in {source.declared_in.name}",
    )


def _load_file(
    session: EngineSession,
    source: SourceTable,
    target: str,
    path: Path,
    relative: str,
    actual: dict[str, str],
    result: FileLoad,
) -> None:
    config: FileTableConfig = source.config
    if not result.contract:
        result.contract, result.contract_changed = dict(actual), True
    added = [c for c in actual if c not in result.contract]
    missing = [c for c in result.contract if c not in actual]
    if added or missing:
        drift = _describe(relative, added, missing)
        result.drift.append(drift)
        if config.schema_policy == "fail":
            raise LoadRefused(
                f"source {source.name}: {drift}; nothing loaded",
                hint=f"update `columns` of {source.table} in {source.declared_in.name}, "
                "or set schema_policy: evolve (accept) or quarantine (set such files aside)",
            )
        if config.schema_policy == "quarantine" and session.capabilities.loads_files:
            scan = _file_scan(
                source, path, relative, actual, result.contract, "quarantined: " + drift
            )
            session.load_file(scan, target, rejects_table(target))
            result.quarantined.append(relative)
            return
        if config.schema_policy == "quarantine":
            # the whole file is set aside (not counted as rejected rows); its table stays empty
            _quarantine(session, source, target, path, relative, drift)
            result.quarantined.append(relative)
            columns = ", ".join(f"{quote(c)} {t}" for c, t in result.contract.items())
            session.execute(f"CREATE TABLE {quote(target)} ({columns})")
            return
        for column in added:
            result.contract[column] = actual[column]
        result.contract_changed = True
    loaded, rejected = _typed_load(session, source, target, path, relative, actual, result.contract)
    result.loaded += loaded
    result.rejected += rejected


def _describe(relative: str, added: list[str], missing: list[str]) -> str:
    parts = [
        f"new column {', '.join(added)}" if added else "",
        f"missing column {', '.join(missing)}" if missing else "",
    ]
    return f"{relative} drifted from the contract: " + "; ".join(p for p in parts if p)


def _columns_of(
    session: EngineSession, source: SourceTable, path: Path, relative: str
) -> dict[str, str]:
    """The file's columns and their inferred types (names from the header itself for CSV).

    A CSV file's first line is read first, within bounds, so a file that is not what it
    claims fails at once. Types are sniffed leniently (bad rows do not stop the
    sniffing; they are rejected at load).
    """
    fmt = source.config.resolved_format()
    text = fmt in ("csv", "tsv")
    names = read_first_record(source, path, relative) if text else []
    if fmt in ("json", "ndjson"):
        read_prefix(source, path, relative)  # a file that is not UTF-8 fails here, by line
    if fmt == "parquet":
        refuse_unless_parquet(source, path, relative)
    try:
        rows = session.execute(f"DESCRIBE {_reader(source.config, path, None, lenient=True)}")
    except HeadgateError as exc:
        if not text:  # a CSV file's columns come from its header; nothing names these
            reason = exc.message.strip().split("\n", 1)[0]
            raise FileRefused(
                f"{relative}: the warehouse reads no columns from it as {fmt} ({reason}); "
                "nothing loaded",
                hint=f"check the file, or the format of {source.table} in "
                f"sources/{source.declared_in.name}",
            ) from None
        rows = []
    sniffed = {str(r[0]): str(r[1]) for r in rows}
    if not text or not source.config.header:
        return sniffed
    return {name: sniffed.get(name, "VARCHAR") for name in names}


def _reader(
    config: FileTableConfig, path: Path, columns: dict[str, str] | None, *, lenient: bool = False
) -> str:
    """The scan of one file: typed by ``columns`` with rejects kept, or ``lenient`` for sniffing."""
    file = _string(str(path))
    fmt = config.resolved_format()
    if fmt in ("csv", "tsv"):
        options = [f"header={str(config.header).lower()}"]
        options.append(f"delim={_string(config.delimiter or (chr(9) if fmt == 'tsv' else ','))}")
        if config.quote:
            options.append(f"quote={_string(config.quote)}")
        if config.encoding:
            options.append(f"encoding={_string(config.encoding)}")
        if lenient:
            options += ["ignore_errors=true", "null_padding=true"]
        if columns is not None:
            # the dialect as declared, never sniffed: a sniffer that meets an unclosed quote
            # decides the file has no quoting and loads `"placed` as a value
            quote_char = config.quote or '"'
            typed = ", ".join(f"{_string(c)}: {_string(t)}" for c, t in columns.items())
            options += [
                "auto_detect=false",
                f"quote={_string(quote_char)}" if not config.quote else "",
                f"escape={_string(config.escape or quote_char)}",
                f"columns={{{typed}}}",
                "store_rejects=true",
                "rejects_table='headgate_rejects'",
                "rejects_scan='headgate_reject_scans'",
            ]
        return f"SELECT * FROM read_csv({file}, {', '.join(o for o in options if o)})"
    if fmt == "parquet":
        return f"SELECT * FROM read_parquet({file})"
    if fmt in ("ndjson", "json"):
        style = "newline_delimited" if fmt == "ndjson" else "auto"
        ignore = ", ignore_errors=true" if columns is not None or lenient else ""
        return f"SELECT * FROM read_json({file}, format='{style}'{ignore})"
    raise HeadgateError(
        f"unknown file format '{fmt}'", hint="use csv, tsv, parquet, json or ndjson"
    )


def _typed_load(
    session: EngineSession,
    source: SourceTable,
    target: str,
    path: Path,
    relative: str,
    actual: dict[str, str],
    contract: dict[str, str],
) -> tuple[int, int]:
    """The file's own columns, typed by the contract (missing ones are left NULL by name)."""
    typed = {column: contract.get(column, kind) for column, kind in actual.items()}
    if session.capabilities.loads_files:
        scan = _file_scan(source, path, relative, typed, contract)
        return session.load_file(scan, target, rejects_table(target))
    if not session.table_exists(target):
        columns = ", ".join(f"{quote(c)} {t}" for c, t in contract.items())
        session.execute(f"CREATE TABLE {quote(target)} ({columns})")

    fmt = source.config.resolved_format()
    if fmt in ("csv", "tsv"):
        return _csv_load(session, source, target, path, relative, typed)
    rows = _ndjson_rows(path, typed) if fmt == "ndjson" else _scan_rows(source, path, typed)
    try:
        return _cast_load(session, target, rows, relative, typed)
    except HeadgateError as exc:
        if "not utf-8 encoded" not in str(exc):
            raise
        found = first_undecodable(source, path)  # past the prefix checked before the load
        raise not_in_encoding(source, relative, found or DecodeProblem(0, 0, 0, 0, False)) from None


def _csv_load(
    session: EngineSession,
    source: SourceTable,
    target: str,
    path: Path,
    relative: str,
    contract: dict[str, str],
) -> tuple[int, int]:
    """Load the rows that parse and cast; each record that does not is one reject row."""
    select = _reader(source.config, path, contract)
    try:
        loaded = _insert(session, target, select)
        _refuse_unreadable_records(session, source, path, relative)
        # the warehouse reports one row per error; a record is rejected once, with all its reasons
        rejects = session.execute(
            f"INSERT INTO {quote(rejects_table(target))} "
            f"SELECT {_string(relative)}, line, string_agg(column_name, ', ' ORDER BY idx), "
            "string_agg(reason, '; ' ORDER BY idx), any_value(raw), now() "
            f"FROM ({_REJECT_REASONS}) GROUP BY line"
        )
    finally:
        session.execute("DROP TABLE IF EXISTS headgate_rejects")
        session.execute("DROP TABLE IF EXISTS headgate_reject_scans")
    return loaded, int(rejects[0][0]) if rejects else 0


# One reason per record and kind of error: a short row is reported by the warehouse once
# for each missing field, a long one once for each extra field; a cast error once per column.
_REJECT_REASONS = (
    "SELECT line, min(column_idx) AS idx, any_value(rtrim(csv_line, chr(13) || chr(10))) AS raw, "
    "CASE WHEN error_type = 'CAST' THEN any_value(column_name) END AS column_name, "
    "error_type || ': ' || CASE WHEN error_type = 'TOO MANY COLUMNS' "
    "THEN arg_max(error_message, column_idx) ELSE arg_min(error_message, column_idx) END AS reason "
    "FROM headgate_rejects "
    "GROUP BY line, error_type, CASE WHEN error_type = 'CAST' THEN column_idx END"
)


def _refuse_unreadable_records(
    session: EngineSession, source: SourceTable, path: Path, relative: str
) -> None:
    """Errors no reject row can stand for: a file in another encoding, a quote never closed."""
    bad_encoding = session.execute(
        "SELECT min(line) FROM headgate_rejects WHERE error_type = 'INVALID ENCODING'"
    )
    if bad_encoding and bad_encoding[0][0] is not None:
        line = int(bad_encoding[0][0])
        found = first_undecodable(source, path)
        problem = found or DecodeProblem(0, line, 0, 0, False)
        raise not_in_encoding(source, relative, problem)
    unclosed = session.execute(
        "SELECT line, csv_line FROM headgate_rejects WHERE error_type = 'UNQUOTED VALUE' "
        "ORDER BY line LIMIT 1"
    )
    if unclosed:
        line, raw = int(unclosed[0][0]), str(unclosed[0][1] or "")
        swallowed = raw.rstrip("\r\n").count("\n")
        if swallowed:  # the open quote runs to the end of the file: those lines cannot be read
            raise FileRefused(
                f"{relative}:{line}: a quoted value opens on this line and is never closed, so "
                f"the {swallowed:,} line(s) after it cannot be read; nothing loaded",
                hint=f"close the quote on line {line} (a quote inside a quoted value is "
                'written twice: "")',
            )


def _scan_rows(source: SourceTable, path: Path, typed: dict[str, str]) -> str:
    """Numbered rows of a Parquet or JSON file, as the engine reads them."""
    return f"(SELECT row_number() OVER () AS headgate_line, * FROM ({_reader(source.config, path, typed)}))"


def _ndjson_rows(path: Path, typed: dict[str, str]) -> str:
    """Numbered lines of an NDJSON file with each field extracted as text.

    Reading lines first means a line that is not a JSON object is kept (and rejected)
    instead of vanishing in the JSON reader's error handling.
    """
    fields = ", ".join(
        f"CASE WHEN headgate_valid THEN json_extract_string(raw, {_string(_json_path(c))}) END AS {quote(c)}"
        for c in typed
    )
    valid = "coalesce(json_valid(raw), false) AND starts_with(trim(raw), '{')"
    return (
        f"(SELECT headgate_line, raw, headgate_valid, {fields} FROM ("
        f"SELECT n AS headgate_line, raw, {valid} AS headgate_valid "
        f"FROM {_raw_lines(path, None)} WHERE trim(raw) <> ''))"
    )


def _json_path(column: str) -> str:
    return '$."' + column.replace('"', '\\"') + '"'


def _raw_lines(path: Path, encoding: str | None) -> str:
    decoding = f", encoding={_string(encoding)}" if encoding else ""
    return (
        f"(SELECT row_number() OVER () AS n, column0 AS raw FROM read_csv({_string(str(path))}, header=false, "
        f"delim=chr(31), quote='', escape='', columns={{'column0': 'VARCHAR'}}{decoding}))"
    )


def _cast_load(
    session: EngineSession, target: str, rows: str, relative: str, typed: dict[str, str]
) -> tuple[int, int]:
    """Values that do not cast to the contract's type reject their row, with the reason."""
    valid = "headgate_valid" if "headgate_valid" in rows else "TRUE"
    failing = (
        " OR ".join(
            f"({quote(c)} IS NOT NULL AND TRY_CAST({quote(c)} AS {t}) IS NULL)"
            for c, t in typed.items()
        )
        or "FALSE"
    )
    bad = f"NOT {valid} OR {failing}"
    columns = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, t in typed.items())
    loaded = _insert(session, target, f"SELECT {columns} FROM {rows} AS r WHERE NOT ({bad})")
    reasons = (
        " || ".join(
            f"CASE WHEN {quote(c)} IS NOT NULL AND TRY_CAST({quote(c)} AS {t}) IS NULL "
            f"THEN 'cannot cast {c} to {t}; ' ELSE '' END"
            for c, t in typed.items()
        )
        or "''"
    )
    reason = f"CASE WHEN NOT {valid} THEN 'not a JSON object' ELSE {reasons} END"
    record = "raw" if valid != "TRUE" else "to_json(r)::VARCHAR"
    rejected = session.execute(
        f"INSERT INTO {quote(rejects_table(target))} SELECT {_string(relative)}, headgate_line, NULL, "
        f"{reason}, {record}, now() FROM {rows} AS r WHERE {bad}"
    )
    return loaded, int(rejected[0][0]) if rejected else 0


def _insert(session: EngineSession, target: str, select: str) -> int:
    rows = session.execute(f"INSERT INTO {quote(target)} BY NAME {select}")
    return int(rows[0][0]) if rows else 0


def _quarantine(
    session: EngineSession, source: SourceTable, target: str, path: Path, relative: str, drift: str
) -> int:
    inserted = session.execute(
        f"INSERT INTO {quote(rejects_table(target))} SELECT {_string(relative)}, n, NULL, "
        f"{_string('quarantined: ' + drift)}, raw, now() FROM {_raw_lines(path, source.config.encoding)}"
    )
    return int(inserted[0][0]) if inserted else 0


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
