"""Starting the process's one SparkSession: local (a JVM inside this process) or Spark Connect.

Starting Spark costs seconds, and a local session's metastore and warehouse folders
cannot change once it runs, so a process has one session, started on first use and kept
until the process ends. Each way it can fail (no PySpark, no Java, a server that does
not answer) is one :class:`~headgate.errors.HeadgateError` naming it.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.errors import EngineError, HeadgateError

if TYPE_CHECKING:
    from headgate.project.config import SparkEngineConfig

INSTALL_HINT = "install it: pip install 'headgate[spark]'"
JAVA_HINT = (
    "Spark runs on Java 17 or newer: install a JDK (Debian: apt-get install "
    "openjdk-17-jre-headless) or set JAVA_HOME to one"
)
# Settings every headgate session runs with; `conf:` in headgate.yml comes on top.
SESSION_CONF = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",  # "schema"."table" as in every engine
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",  # TIMESTAMP without a zone, as DuckDB's
    "spark.sql.legacy.allowNonEmptyLocationInCTAS": "true",  # a killed CTAS left files
}
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",  # one machine: Spark's default 200 costs seconds
    "spark.sql.catalogImplementation": "hive",
}


def message(exc: BaseException) -> str:
    """Spark's reason, without the JVM stack and the repeated query text."""
    text = str(exc).strip()
    for marker in ("\nJVM stacktrace:", "\n\tat ", "\n== SQL", "\n== Physical", "\nSearch path:"):
        text = text.split(marker, 1)[0]
    text = re.sub(r"\s*SQLSTATE: \w+", "", text).strip()
    return text.splitlines()[0] if len(text) > 600 else text


# --- the process's one SparkSession ---------------------------------------------------

_started: dict[str, Any] = {}  # "key": what the running session was started with; "spark"
_start_lock = threading.Lock()


def _reachable(remote: str) -> None:
    """Fail at once, in one sentence, when nothing listens at ``sc://host:port`` (the client
    would otherwise retry for minutes)."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(remote.split(";", 1)[0].replace("sc://", "http://", 1))
    host, port = address.hostname or "localhost", address.port or 15002
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise EngineError(
            f"cannot reach Spark Connect at {host}:{port}: {exc.strerror or exc}",
            hint="check engine.remote in headgate.yml and that the Spark Connect server runs",
        ) from None


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


def spark_session(config: SparkEngineConfig, root: Path, remote: str | None) -> Any:
    """The process's SparkSession, started on first use with ``config``'s settings."""
    key = _session_key(config, root, remote)
    with _start_lock:
        running = _started.get("spark")
        if running is not None:
            if _started["key"] != key:
                raise HeadgateError(
                    f"this process already runs Spark for {_started['key'][0]}; one Spark "
                    "session per process",
                    hint="open one Spark project per process (each headgate command is one)",
                )
            return running
        spark = _start(config, root, remote)
        _started.update(key=key, spark=spark)
        return spark


def _session_key(config: SparkEngineConfig, root: Path, remote: str | None) -> tuple[str, ...]:
    if remote:
        return (remote,)
    return (
        config.master,
        str(local_path(root, config.warehouse_dir)),
        str(local_path(root, config.metastore_dir)),
    )


def local_path(root: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else root / path


def _start(config: SparkEngineConfig, root: Path, remote: str | None) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise HeadgateError(
            "the spark engine needs PySpark, which is not installed", hint=INSTALL_HINT
        ) from None
    _quiet_python_logs()
    builder = SparkSession.builder.appName(config.app_name)
    if remote:
        try:
            import grpc  # noqa: F401  (Spark Connect's transport)
        except ImportError:
            raise HeadgateError(
                "Spark Connect needs grpcio, which is not installed",
                hint="install it: pip install 'headgate[spark]' (pyspark[connect])",
            ) from None
        _reachable(remote)
        builder = builder.remote(remote)
        settings = dict(SESSION_CONF)
    else:
        if not _java_available():
            raise HeadgateError(
                "cannot start Spark: no Java found (java is not on PATH)", hint=JAVA_HINT
            )
        warehouse = local_path(root, config.warehouse_dir)
        metastore = local_path(root, config.metastore_dir)
        warehouse.mkdir(parents=True, exist_ok=True)
        metastore.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            **LOCAL_CONF,
            **SESSION_CONF,
            "spark.sql.warehouse.dir": str(warehouse.resolve()),
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={metastore.resolve()};create=true"
            ),
            # Derby's log and the JVM's own logging stay in .headgate/spark/, not on screen
            "spark.driver.extraJavaOptions": (
                f"-Dderby.stream.error.file={metastore.parent.resolve() / 'derby.log'} "
                f"-Dlog4j2.configurationFile={_log_config(metastore.parent)}"
            ),
        }
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: loopback only
        builder = builder.master(config.master).enableHiveSupport()
    settings.update({k: str(v) for k, v in config.conf.items()})
    for name, value in settings.items():
        builder = builder.config(name, value)
    try:
        with _stderr_into(None if remote else local_path(root, config.metastore_dir).parent):
            spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start, or the server did not answer
        if remote:
            raise EngineError(
                f"cannot reach Spark Connect at {remote}: {message(exc)}",
                hint="check engine.remote in headgate.yml and that the Spark Connect server runs",
            ) from None
        raise EngineError(
            f"cannot start Spark ({config.master}): {message(exc)}", hint=JAVA_HINT
        ) from None
    if remote:
        try:
            spark.sql("SELECT 1").collect()  # Connect sessions are lazy: reach the server now
            for name, value in SESSION_CONF.items():
                spark.conf.set(name, value)
        except Exception as exc:
            raise EngineError(
                f"cannot reach Spark Connect at {remote}: {message(exc)}",
                hint="check engine.remote in headgate.yml and that the Spark Connect server runs",
            ) from None
    else:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _stderr_into(folder: Path | None) -> Iterator[None]:
    """The JVM started inside keeps this process's stderr: point it at ``spark.log`` instead.

    The JVM prints its own start-up notices (incubator modules, log levels) before any
    logging setting applies; a headgate command's terminal shows headgate's output only.
    """
    if folder is None:
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with open(folder / "spark.log", "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


LOG4J = """rootLogger.level = error
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d %p %c: %m%n
"""


def _log_config(folder: Path) -> Path:
    """Spark's JVM logs errors to ``spark.log`` beside the metastore, never to the terminal."""
    path = folder.resolve() / "log4j2.properties"
    path.write_text(LOG4J.format(path=folder.resolve() / "spark.log"), encoding="utf-8")
    return path


def _quiet_python_logs() -> None:
    """PySpark logs every refused statement with its JVM stack; headgate reports it once."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\..*")
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    logging.getLogger("py4j").setLevel(logging.ERROR)
