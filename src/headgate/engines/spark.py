"""Apache Spark, for data beyond one machine: Parquet tables in a Hive catalog, views per environment.

``master: local[2]`` runs Spark inside this process (a JVM started by PySpark) with a
Derby metastore and a warehouse folder under the project's ``.headgate/spark/``;
``remote: sc://host:15002`` talks to a cluster through Spark Connect. Both speak the
same SQL: headgate's portable statements (identifiers in double quotes) run as they are
because the session reads double-quoted names as identifiers
(``spark.sql.ansi.doubleQuotedIdentifiers``), and model SQL is rendered in Spark's
dialect by sqlglot.

Spark has no multi-statement transactions. Every table, segment and version view is
still created in one statement (it exists whole or not at all), but a publish replaces
an environment's views one after another: the statements are prepared first and sent
back to back, the time from the first to the last is measured (``last_publish``), and
the ledger row is written after the last view. What a publish will do is written before
its first view, so one stopped inside the window is finished by the next process to read
the ledger. The README says what a reader sees.

One SparkSession per process (``spark_start.py``); PySpark is imported only when a Spark
project opens (``pip install 'headgate[spark]'``).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.engines.base import (
    Capabilities,
    Engine,
    EngineSession,
    FileScan,
    ViewSpec,
    quote,
)
from headgate.engines.sessions import ThreadSessions
from headgate.engines.spark_start import local_path, message, spark_session
from headgate.errors import EngineError, HeadgateError, WarehouseBusy

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.project.config import SparkEngineConfig

CAPABILITIES = Capabilities(
    dialect="spark",
    transactional_ddl=False,
    concurrent_writes=True,
    reads_files=False,
    identifier_quote="`",
    replace_view_with_new_columns=True,
    replace_table=False,  # CREATE OR REPLACE TABLE needs a v2 catalog (Delta, Iceberg)
    union_by_name=False,
    merge=False,
)
# a Spark in this process (master local[N]) sees the project's files and reads them itself;
# a cluster behind Spark Connect cannot, and gets them as Arrow from a local reader
LOCAL_CAPABILITIES = replace(CAPABILITIES, loads_files=True)

_QUERY = re.compile(r"^\s*\(*\s*(SELECT|WITH|VALUES|SHOW|DESCRIBE|DESC|EXPLAIN|FROM|TABLE)\b", re.I)
_INSERT = re.compile(
    r"^\s*INSERT\s+(?:INTO|OVERWRITE)\s+(?:TABLE\s+)?((?:\"(?:[^\"]|\"\")+\"|`[^`]+`|[\w]+)"
    r"(?:\.(?:\"(?:[^\"]|\"\")+\"|`[^`]+`|[\w]+))?)",
    re.I,
)


@dataclass(frozen=True)
class PublishWindow:
    """How long a publish left readers seeing some views replaced and others not."""

    views: int
    seconds: float  # from the first view statement sent to the last one answered


def _identifier(qualified: str) -> str:
    """``a.b`` as Spark's multipart name with backticks (for the DataFrame API)."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in qualified.split("."))


class SparkWorkSession(EngineSession):
    """One worker thread's view of the process's SparkSession (queries tagged for interrupts)."""

    capabilities = CAPABILITIES

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine
        self.spark = engine.spark
        self.capabilities = engine.capabilities
        self._tag = f"headgate-{threading.get_ident()}"
        self._tagged = False

    # --- statements -------------------------------------------------------------------

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """One statement; a query's rows, and for INSERT the rows it added (counted, Spark
        does not say)."""
        inserted = _INSERT.match(sql)
        before = self.row_count(_unquoted(inserted.group(1))) if inserted else 0
        with self._errors():
            frame = self.spark.sql(sql)
            if _QUERY.match(sql):
                return [tuple(row) for row in frame.collect()]
        if inserted:
            return [(self.row_count(_unquoted(inserted.group(1))) - before,)]
        return []

    def run(self, sql: str) -> None:
        """One statement whose answer nobody reads (no rows fetched, nothing counted)."""
        with self._errors():
            self.spark.sql(sql)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        self._tag_thread()
        try:
            yield
        except PySparkException as exc:
            text = message(exc)
            if "Another instance of Derby" in str(exc) or "XSDB6" in str(exc):
                raise self.engine.busy() from None
            raise EngineError(text) from None
        except Py4JError as exc:
            raise EngineError(f"Spark stopped answering: {message(exc)}") from None

    def _tag_thread(self) -> None:
        if not self._tagged:
            self.spark.addTag(self._tag)  # thread-local: interrupt() stops only this thread's
            self._tagged = True

    def frame(self, sql: str) -> Any:
        """A query as a Spark DataFrame (for Python models: the data stays in Spark)."""
        with self._errors():
            return self.spark.sql(sql)

    def own_frame(self, value: object) -> bool:
        return type(value).__module__.startswith("pyspark.sql") and hasattr(value, "write")

    def arrow(self, sql: str) -> pa.Table:
        with self._errors():
            table = self.spark.sql(sql).toArrow()
        return table

    def create_table_from_arrow(self, target: str, data: pa.Table | pa.RecordBatchReader) -> int:
        """A table from Arrow data (or a Spark DataFrame a Python model returned), replaced whole."""
        import pyarrow as pa

        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        with self._errors():
            if isinstance(data, pa.Table):
                frame = self._frame_of(data) if data.num_columns else None
                rows: int | None = data.num_rows
            else:
                frame, rows = data, None  # a DataFrame: written by Spark, counted after
            if frame is None:
                raise EngineError(f"cannot create {target} from a table without columns")
            self.spark.sql(f"DROP TABLE IF EXISTS {quote(target)}")
            frame.write.format(self.engine.table_format).saveAsTable(_identifier(target))
        return rows if rows is not None else self.row_count(target)

    def _frame_of(self, data: pa.Table) -> Any:
        """A Spark DataFrame of Arrow data; typed by its schema even when it has no rows
        (Spark Connect cannot infer a schema from none)."""
        if data.num_rows:
            return self.spark.createDataFrame(data)
        from pyspark.sql.pandas.types import from_arrow_schema

        return self.spark.createDataFrame([], from_arrow_schema(data.schema))

    def append_arrow(self, target: str, data: pa.Table) -> int:
        """Rows appended, columns matched by name (Spark's saveAsTable in append mode)."""
        if not data.num_rows:
            return 0
        with self._errors():
            frame = self._frame_of(data)
            frame.write.mode("append").saveAsTable(_identifier(target))
        return int(data.num_rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """No transactions on Spark: each statement stands alone (see the module's docstring)."""
        yield

    def create_table_as(self, target: str, select_sql: str, *, replace: bool = False) -> int:
        """The query written as a new table in one job, as CREATE TABLE ... AS writes it; its
        rows are counted while they are written (an observed metric), not by a second job.
        ``replace`` drops the old table first (not atomic: headgate only replaces tables
        nothing reads, under names of their own)."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        if replace:
            self.run(f"DROP TABLE IF EXISTS {quote(target)}")
        with self._errors():
            counted = Observation(f"headgate_rows_{uuid.uuid4().hex}")
            frame = self.spark.sql(select_sql).observe(counted, F.count(F.lit(1)).alias("rows"))
            frame.write.format(self.engine.table_format).saveAsTable(_identifier(target))
            return int(counted.get["rows"])

    def create_empty_like(self, target: str, select_sql: str) -> None:
        if not self.table_exists(target):
            self.create_table_as(target, f"SELECT * FROM ({select_sql}) AS q LIMIT 0")

    def swap_in(self, staged: str, target: str, *, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        self.execute(f"DROP {kind} IF EXISTS {quote(target)}")
        self.execute(f"ALTER {kind} {quote(staged)} RENAME TO {quote(target)}")

    # --- catalog ------------------------------------------------------------------------

    def table_exists(self, target: str) -> bool:
        schema = target.rpartition(".")[0]
        if schema and not self.engine.has_schema(schema):
            return False
        with self._errors():
            return bool(self.spark.catalog.tableExists(_identifier(target)))

    def columns_of(self, target: str) -> list[tuple[str, str]]:
        """(name, Spark's type in capitals) in order: ``BIGINT``, ``STRING``, ``DECIMAL(10,2)``;
        none for a table that does not exist."""
        try:
            with self._errors():
                fields = self.spark.table(_identifier(target)).schema.fields
        except EngineError as exc:
            if "NOT_FOUND" in exc.message:  # TABLE_OR_VIEW_NOT_FOUND, SCHEMA_NOT_FOUND
                return []
            raise
        return [(field.name, field.dataType.simpleString().upper()) for field in fields]

    def relations(self, schema: str, *, views_only: bool = False) -> set[str]:
        if not self.engine.has_schema(schema):
            return set()
        with self._errors():
            rows = self.spark.sql(
                f"SHOW {'VIEWS' if views_only else 'TABLES'} IN {quote(schema)}"
            ).collect()
        return {f"{schema}.{row[1]}" for row in rows if not row[2]}

    def load_file(self, scan: FileScan, target: str, rejects: str) -> tuple[int, int]:
        """The file read by Spark's own reader (see ``spark_files.py``)."""
        from headgate.engines.spark_files import load_file

        return load_file(self, scan, target, rejects)

    def interrupt(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.spark.interruptTag(self._tag)

    def close(self) -> None:
        import contextlib

        self.close_file_reader()
        if self._tagged:
            with contextlib.suppress(Exception):
                self.spark.removeTag(self._tag)


def _unquoted(name: str) -> str:
    return ".".join(
        part[1:-1].replace('""', '"') if part[:1] in ('"', "`") else part
        for part in re.findall(r"\"(?:[^\"]|\"\")+\"|`[^`]+`|\w+", name)
    )


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SparkEngine(Engine):
    capabilities = CAPABILITIES

    def __init__(self, spark: Any, config: SparkEngineConfig, root: Path) -> None:
        self.spark = spark
        self.config = config
        self.root = root
        self.schema_prefix = config.schema_prefix
        self.table_format = config.table_format
        if not config.remote and config.master.startswith("local"):
            self.capabilities = LOCAL_CAPABILITIES
        self.last_publish: PublishWindow | None = None
        self._schemas: set[str] = set()  # databases known to exist
        self._sessions = ThreadSessions(lambda: SparkWorkSession(self))

    @classmethod
    def open(
        cls,
        config: SparkEngineConfig,
        root: Path,
        *,
        read_only: bool = False,
        wait_seconds: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> SparkEngine:
        """Start (or reuse) the process's SparkSession; every failure is one clear error."""
        remote = None
        if config.remote:
            from headgate.sources.secrets import Secrets

            remote = Secrets(root).resolve(config.remote)
        engine = cls(spark_session(config, root, remote), config, root)
        engine._check_table_format()
        engine.session().execute("SHOW DATABASES")  # the metastore opens here: busy or not
        return engine

    def busy(self) -> WarehouseBusy:
        metastore = local_path(self.root, self.config.metastore_dir)
        return WarehouseBusy(
            f"the Spark metastore {metastore} is in use by another process",
            hint="Derby lets one process open it at a time: wait for the other headgate "
            "command to finish, or use a shared metastore (conf: spark.hadoop.javax.jdo...)",
        )

    def _check_table_format(self) -> None:
        wanted = self.table_format
        if wanted == "parquet":
            return
        extensions = str(self.spark.conf.get("spark.sql.extensions", "") or "")
        if wanted.lower() not in extensions.lower():
            raise HeadgateError(
                f"table_format: {wanted} needs {wanted.title()}'s jars and session extension, "
                "which this Spark session does not have",
                hint="use table_format: parquet, or give the session the extension through "
                "engine.conf (spark.sql.extensions, spark.jars) on a cluster that has them",
            )

    def has_schema(self, schema: str) -> bool:
        """Whether the database exists (one that did is remembered: headgate never drops one)."""
        if schema not in self._schemas:
            session = self.session()
            with session._errors():
                if not self.spark.catalog.databaseExists(schema):
                    return False
            self._schemas.add(schema)
        return True

    def ensure_schema(self, schema: str) -> None:
        if not self.has_schema(schema):
            self.session().run(f"CREATE DATABASE IF NOT EXISTS {quote(schema)}")
            self._schemas.add(schema)

    def session(self) -> SparkWorkSession:
        return self._sessions.get()

    def existing_tables(self, schema: str) -> set[str]:
        return self.session().relations(schema)

    def existing_views(self, schemas: set[str]) -> set[str]:
        found: set[str] = set()
        for schema in schemas:
            found |= self.session().relations(schema, views_only=True)
        return found

    def publish_views(
        self, views: Sequence[ViewSpec], drops: Sequence[str], *, publish_id: int | None = None
    ) -> None:
        """Replace the views one after another, as fast as Spark allows, then write the ledger.

        Everything that can happen before is done before: the schemas and the ledger
        exist and every statement is written. The views are then replaced back to back;
        during that window a reader may see some views new and others old (the README
        says so). The ledger row comes after the last view, so a publish the ledger
        names is one whose views were all replaced.
        """
        session = self.session()
        for schema in sorted({v.view.rsplit(".", 1)[0] for v in views}):
            self.ensure_schema(schema)
        if publish_id is not None:
            self._ensure_ledger()
        # a view that exists is altered in place: CREATE OR REPLACE drops it first, and a
        # reader in between would find no view at all
        existing = self.existing_views({v.view.rsplit(".", 1)[0] for v in views})
        statements = [
            f"{'ALTER' if spec.view in existing else 'CREATE'} VIEW {quote(spec.view)} "
            f"AS SELECT * FROM {quote(spec.target)}"
            for spec in views
        ] + [f"DROP VIEW IF EXISTS {quote(name)}" for name in drops]
        if publish_id is not None:
            self._write_intent(publish_id, views, drops)
        started = time.perf_counter()
        for statement in statements:
            session.execute(statement)
        self.last_publish = PublishWindow(len(statements), time.perf_counter() - started)
        if publish_id is not None:
            session.run(f"INSERT INTO {quote(self.ledger)} VALUES ({int(publish_id)})")

    @property
    def intents(self) -> str:
        return self.ledger + "_intended"

    def _write_intent(
        self, publish_id: int, views: Sequence[ViewSpec], drops: Sequence[str]
    ) -> None:
        """What this publish will do, written before its first view: a process killed inside
        the window leaves enough for the next one to finish it (see :meth:`published`)."""
        session = self.session()
        session.run(
            f"CREATE TABLE IF NOT EXISTS {quote(self.intents)} "
            f"(publish_id BIGINT, view STRING, target STRING) USING {self.table_format}"
        )
        rows = [(spec.view, spec.target) for spec in views] + [(name, "") for name in drops]
        if rows:
            values = ", ".join(
                f"({int(publish_id)}, {_literal(v)}, {_literal(t)})" for v, t in rows
            )
            session.run(f"INSERT INTO {quote(self.intents)} VALUES {values}")

    def published(self, publish_ids: Sequence[int]) -> set[int]:
        """The publishes the ledger names, after finishing those a killed process left half done.

        A publish whose intent was written but whose ledger row was not was stopped inside
        its window: some views switched, others not. Its views are pointed again (each
        statement is idempotent) and its ledger row written, so the store can complete it
        and every reader sees the publish whole from then on.
        """
        done = super().published(publish_ids)
        waiting = [int(i) for i in publish_ids if int(i) not in done]
        if not waiting or not self.session().table_exists(self.intents):
            return done
        listed = ", ".join(str(i) for i in waiting)
        rows = self.session().execute(
            f"SELECT publish_id, view, target FROM {quote(self.intents)} "
            f"WHERE publish_id IN ({listed})"
        )
        for publish_id in sorted({int(r[0]) for r in rows}):
            mine = [(str(r[1]), str(r[2])) for r in rows if int(r[0]) == publish_id]
            views = [ViewSpec(view, target) for view, target in mine if target]
            drops = [view for view, target in mine if not target]
            self.publish_views(views, drops, publish_id=publish_id)
            done.add(publish_id)
        return done

    def _ensure_ledger(self) -> None:
        self.ensure_schema(self.ledger.split(".")[0])
        if not self.session().table_exists(self.ledger):
            self.session().execute(
                f"CREATE TABLE IF NOT EXISTS {quote(self.ledger)} (publish_id BIGINT) "
                f"USING {self.table_format}"
            )

    def storage_bytes(self) -> int:
        """Bytes under the local warehouse folder (0 on a cluster: its storage is its own)."""
        if self.config.remote:
            return 0
        folder = local_path(self.root, self.config.warehouse_dir)
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    def close(self) -> None:
        """The sessions of this engine end; the process's SparkSession stays for the next."""
        self._sessions.close()
