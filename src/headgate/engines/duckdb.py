"""DuckDB, the embedded default warehouse.

DuckDB lets one process write a database file at a time. The engine is opened
only for as long as a command needs it; when another process holds the file we
wait with a visible message instead of failing with a lock error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from headgate.engines.base import Capabilities, Engine, EngineSession
from headgate.engines.sessions import ThreadSessions
from headgate.errors import EngineError, WarehouseBusy

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.project.config import DuckDBEngineConfig

MAX_PERFECT_HASH_BITS = 26  # 64M groups at most: a few hundred MB for counts

CAPABILITIES = Capabilities(
    dialect="duckdb",
    transactional_ddl=True,
    concurrent_writes=True,
    reads_files=True,
    shared_by_processes=False,  # one process at a time opens the file to write
)


class DuckDBSession(EngineSession):
    capabilities = CAPABILITIES

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.cursor.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from exc

    def arrow(self, sql: str) -> pa.Table:
        try:
            return self.cursor.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from exc

    @contextlib.contextmanager
    def dense_keys(self, bits: int) -> Iterator[bool]:
        # DuckDB groups by a perfect hash table only below 2**12 keys by default; on
        # ten million dense integer keys one makes COUNT(DISTINCT) 5x faster. The
        # setting is this connection's only, and restored after.
        if bits > MAX_PERFECT_HASH_BITS:
            yield False
            return
        (before,) = self.execute("SELECT current_setting('perfect_ht_threshold')")[0]
        self.execute(f"SET perfect_ht_threshold = {max(int(before), bits)}")
        try:
            yield True
        finally:
            self.execute(f"SET perfect_ht_threshold = {int(before)}")

    def columns_of(self, target: str) -> list[tuple[str, str]]:
        # DESCRIBE looks the one table up; information_schema.columns lists every column
        # of every table first (4 ms at 1,000 tables, paid once per model built)
        from headgate.engines.base import quote

        if "." not in target:
            return super().columns_of(target)
        try:
            rows = self.cursor.execute(f"DESCRIBE {quote(target)}").fetchall()
        except duckdb.CatalogException:
            return []  # no such table or view: it has no columns, as the catalog says
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from exc
        return [(str(row[0]), str(row[1])) for row in rows]

    def create_table_as(self, target: str, select_sql: str, *, replace: bool = False) -> int:
        # DuckDB answers CREATE TABLE AS with the row count: no second query.
        from headgate.engines.base import quote

        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        rows = self.execute(f"{verb} {quote(target)} AS {select_sql}")
        return int(rows[0][0]) if rows and rows[0] else self.row_count(target)

    def create_table_from_arrow(self, target: str, data: pa.Table | pa.RecordBatchReader) -> int:
        """A table from Arrow data; a RecordBatchReader is streamed, never held whole."""
        from headgate.engines.base import quote

        name = f"headgate_arrow_{threading.get_ident()}"
        self.cursor.register(name, data)
        try:
            rows = self.execute(f"CREATE OR REPLACE TABLE {quote(target)} AS SELECT * FROM {name}")
        finally:
            self.cursor.unregister(name)
        return int(rows[0][0]) if rows and rows[0] else self.row_count(target)

    def append_arrow(self, target: str, data: pa.Table) -> int:
        from headgate.engines.base import quote

        name = f"headgate_arrow_{threading.get_ident()}"
        self.cursor.register(name, data)
        try:
            self.execute(f"INSERT INTO {quote(target)} BY NAME SELECT * FROM {name}")
        finally:
            self.cursor.unregister(name)
        return int(data.num_rows)

    def interrupt(self) -> None:
        self.cursor.interrupt()

    def close(self) -> None:
        self.cursor.close()


class DuckDBEngine(Engine):
    capabilities = CAPABILITIES

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._sessions = ThreadSessions(lambda: DuckDBSession(self.connection.cursor()))

    @classmethod
    def open(
        cls,
        config: DuckDBEngineConfig,
        root: Path,
        *,
        read_only: bool = False,
        wait_seconds: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> DuckDBEngine:
        path = Path(config.path) if Path(config.path).is_absolute() else root / config.path
        path.parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {}
        if config.threads:
            settings["threads"] = config.threads
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        if read_only and not path.exists():
            read_only = False  # nothing built yet: create an empty warehouse
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                connection = duckdb.connect(str(path), read_only=read_only, config=settings)
                return cls(connection, path)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise EngineError(f"cannot open warehouse {path}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"warehouse {path} is in use by another process",
                        hint="wait for the running command to finish, then try again",
                    ) from exc
                if on_wait and not told:
                    # DuckDB names the holder: "... lock is held in /usr/bin/python3 (PID 41)."
                    held = str(exc).partition("lock is held in ")[2].partition(")")[0]
                    holder = f"{held})" if held else "another process"
                    doing = "reading" if "read-only mode" in str(exc) else "using"
                    on_wait(f"warehouse busy: {holder} is {doing} {path.name}, waiting…")
                    told = True
                time.sleep(0.25)

    def session(self) -> DuckDBSession:
        return self._sessions.get()

    def existing_tables(self, schema: str) -> set[str]:
        rows = self.session().execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_schema = '{schema}'"
        )
        return {f"{s}.{t}" for s, t in rows}

    def storage_bytes(self) -> int:
        session = self.session()
        session.execute("CHECKPOINT")  # dropped tables' blocks are released at a checkpoint
        row = session.execute("PRAGMA database_size")[0]
        return int(row[2]) * int(row[4])  # block_size * used_blocks

    def close(self) -> None:
        self._sessions.close()
        self.connection.close()
