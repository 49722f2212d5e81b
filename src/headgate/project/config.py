"""User-facing configuration schemas (Pydantic, ``extra="forbid"``: a typo is an error, not a no-op)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import pydantic
from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from headgate.observe.config import ObserveConfig
from headgate.observe.openlineage_config import OpenLineageConfig
from headgate.project import file_options
from headgate.project.access import SecurityConfig
from headgate.project.schedules import ScheduleConfig, TriggerConfig
from headgate.project.strict import StrictModel

# StrictModel lives in project/strict.py (schedules.py uses it too); re-exported here.


class DuckDBEngineConfig(StrictModel):
    type: Literal["duckdb"] = "duckdb"
    path: str = ".headgate/warehouse.duckdb"
    threads: int | None = Field(default=None, ge=1, description="DuckDB worker threads")
    memory_limit: str | None = None


class PostgresEngineConfig(StrictModel):
    """A PostgreSQL warehouse: physical tables and environment views in schemas of one database."""

    type: Literal["postgres"]
    url: str = Field(
        description="postgresql://user@host:port/db; write ${secret:NAME} for passwords"
    )
    schema_prefix: str = Field(
        default="",
        description="put before every schema headgate creates (projects sharing a database)",
    )
    lock_timeout_seconds: float = Field(
        default=2.0, gt=0, le=600, description="how long a publish waits for readers' locks per try"
    )
    publish_attempts: int = Field(default=5, ge=1, le=100)

    @field_validator("schema_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("use letters, digits or '_'")
        return value.lower()


class SparkEngineConfig(StrictModel):
    """An Apache Spark warehouse: Parquet tables in a Hive catalog, a database per environment schema."""

    type: Literal["spark"]
    master: str = Field(default="local[2]", description="local[N] runs Spark in this process")
    remote: str | None = Field(
        default=None, description="sc://host:15002: a cluster through Spark Connect (not master)"
    )
    warehouse_dir: str = Field(
        default=".headgate/spark/warehouse", description="where a local Spark keeps its tables"
    )
    metastore_dir: str = Field(
        default=".headgate/spark/metastore_db", description="a local Spark's Derby metastore"
    )
    table_format: Literal["parquet", "delta", "iceberg"] = Field(
        default="parquet", description="delta and iceberg need their jars in the session"
    )
    schema_prefix: str = Field(
        default="", description="put before every database headgate creates (shared catalogs)"
    )
    app_name: str = "headgate"
    conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Spark settings given to the session builder"
    )

    @field_validator("schema_prefix")
    @classmethod
    def _spark_prefix(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("use letters, digits or '_'")
        return value.lower()

    @model_validator(mode="after")
    def _master_or_remote(self) -> SparkEngineConfig:
        if self.remote and "master" in self.model_fields_set:
            raise ValueError(
                "give master (Spark in this process) or remote (Spark Connect), not both"
            )
        if self.remote and not self.remote.startswith(("sc://", "${secret:")):
            raise ValueError("remote is a Spark Connect URL: sc://host:15002")
        return self


def _engine_type(value: Any) -> str:
    """The engine block's ``type``; a block without one is DuckDB's, as it always was."""
    if isinstance(value, dict):
        return str(value.get("type", "duckdb"))
    return str(getattr(value, "type", "duckdb"))


# The engine block: `type` picks the engine (the union grows with engines/: spark).
EngineConfig = Annotated[
    Annotated[DuckDBEngineConfig, Tag("duckdb")]
    | Annotated[PostgresEngineConfig, Tag("postgres")]
    | Annotated[SparkEngineConfig, Tag("spark")],
    Discriminator(
        _engine_type,
        custom_error_type="engine_type",
        custom_error_message="unknown engine type: use duckdb, postgres or spark",
    ),
]


class ProjectConfig(StrictModel):
    """``headgate.yml``."""

    name: str
    engine: EngineConfig = Field(default_factory=DuckDBEngineConfig)
    state_url: str | None = None
    state_schema: str | None = Field(
        default=None, description="PostgreSQL schema for the metadata store (one per project)"
    )
    default_environment: str = "prod"
    security: SecurityConfig = Field(
        default_factory=SecurityConfig,
        description="protected environments, web sessions, single sign-on",
    )
    threads: int | None = Field(default=None, ge=1, le=256)
    retries: int = Field(default=2, ge=0, le=20, description="tries again after a transient error")
    retry_backoff: float = Field(default=1.0, ge=0, description="seconds before the first retry")
    task_timeout: float | None = Field(default=None, gt=0, description="seconds a task may run")
    physical_schema: str = "headgate_physical"
    dialect: str = Field(
        default="duckdb", description="the SQL dialect models are written in (sqlglot's names)"
    )
    description: str | None = None
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    observe: ObserveConfig = Field(
        default_factory=ObserveConfig,
        description="journeys, components, expected schedules and alert rules",
    )
    triggers: list[TriggerConfig] = Field(
        default_factory=list, description="runs started by a new file in a files source"
    )
    openlineage: OpenLineageConfig | None = Field(
        default=None, description="post OpenLineage events for every run to this consumer"
    )

    @field_validator("name", "default_environment", "physical_schema")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value or not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("use letters, digits, '_' or '-'")
        return value

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        from sqlglot.dialects.dialect import Dialect

        try:
            Dialect.get_or_raise(value)
        except ValueError:
            raise ValueError(
                f"unknown SQL dialect '{value}': use one of sqlglot's, e.g. duckdb, postgres, "
                "snowflake, bigquery, spark, tsql"
            ) from None
        return value.lower()

    @field_validator("schedules")
    @classmethod
    def _unique_schedules(cls, value: list[ScheduleConfig]) -> list[ScheduleConfig]:
        names = [s.name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"schedule {twice[0]} is declared twice: give each a name of its own")
        return value

    @model_validator(mode="after")
    def _unique_trigger_names(self) -> ProjectConfig:
        """Schedules and triggers share one namespace (paused and listed by name)."""
        names = [s.name for s in self.schedules] + [t.name for t in self.triggers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"{twice[0]} names two schedules or triggers: give each a name of its own"
            )
        return self

    @model_validator(mode="after")
    def _prefixed_physical_schema(self) -> ProjectConfig:
        """A schema prefix applies to every schema headgate creates, the physical one too."""
        prefix = getattr(self.engine, "schema_prefix", "")
        if prefix and not self.physical_schema.startswith(prefix):
            object.__setattr__(self, "physical_schema", prefix + self.physical_schema)
        return self


# A check as written: a bare type name (`not_null`) or a mapping with one type key and
# common options (`{range: {min: 0}, severity: warn}`); headgate.checks validates it
# with the line it came from.
CheckInput = str | dict[str, Any]


class ColumnOptions(StrictModel):
    description: str | None = None
    checks: list[CheckInput] = Field(default_factory=list)


class ModelOptions(StrictModel):
    """Options of one model: its header block or sidecar ``.yml``."""

    materialized: Literal["view", "table", "incremental"] = "table"
    unique_key: str | list[str] | None = None
    time_column: str | None = None
    start: date | datetime | None = None
    interval: Literal["hour", "day", "month"] = "day"
    batch_size: int | None = Field(default=None, ge=1)
    lookback: int = Field(default=0, ge=0)
    tags: list[str] = Field(default_factory=list)
    owner: str | None = None
    description: str | None = None
    columns: dict[str, ColumnOptions] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    checks: list[CheckInput] = Field(default_factory=list)

    @model_validator(mode="after")
    def _incremental_needs_a_key(self) -> ModelOptions:
        if self.materialized == "incremental":
            if not self.time_column and not self.unique_key:
                raise ValueError(
                    "an incremental model needs time_column (append by time) "
                    "or unique_key (merge by key)"
                )
            if self.time_column and self.start is None:
                raise ValueError(
                    "an incremental model with time_column needs start "
                    "(the first timestamp it covers, e.g. start: '2024-01-01')"
                )
        return self

    @property
    def unique_key_columns(self) -> list[str]:
        if self.unique_key is None:
            return []
        return [self.unique_key] if isinstance(self.unique_key, str) else list(self.unique_key)

    def data_options(self) -> dict[str, object]:
        """The options that change what data the model holds: these enter its fingerprint.

        Tags, owner and descriptions do not, so documenting a model never rebuilds it.
        """
        return {
            "materialized": self.materialized,
            "unique_key": self.unique_key_columns,
            "time_column": self.time_column,
            "start": self.start.isoformat() if self.start else None,
            "interval": self.interval,
        }


FileFormat = Literal["csv", "tsv", "parquet", "json", "ndjson"]


class FileTableConfig(StrictModel):
    path: str
    format: FileFormat | None = None
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = Field(default=None, description="escapes a quote inside quotes")
    encoding: str | None = Field(default=None, description="utf-8 (default), utf-16 or latin-1")
    header: bool = True
    description: str | None = None
    columns: dict[str, str] | None = Field(
        default=None, description="the contract: column -> type; inferred and pinned on first load"
    )
    schema_policy: Literal["evolve", "fail", "quarantine"] = "fail"
    max_reject_fraction: float | str = "5%"

    # Settings that decide how rows are validated, not what the files hold: changing them
    # keeps the loaded table (they enter no fingerprint).
    VALIDATION: ClassVar[frozenset[str]] = frozenset(
        {"description", "columns", "schema_policy", "max_reject_fraction"}
    )

    @field_validator("max_reject_fraction")
    @classmethod
    def _fraction(cls, value: float | str) -> float | str:
        reject_fraction(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        return None if value is None else file_options.file_encoding(value)

    @field_validator("quote", "escape")
    @classmethod
    def _character(cls, value: str | None) -> str | None:
        return None if value is None else file_options.one_character(value, "a quote or escape")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        return None if value is None else file_options.delimiter_text(value)

    @model_validator(mode="after")
    def _fits_format(self) -> FileTableConfig:
        fmt = file_options.format_of(self.path, self.format)
        if self.encoding and fmt not in file_options.ENCODED_FORMATS:
            raise ValueError(
                f"encoding applies to csv and tsv files, not {fmt} (JSON is always UTF-8)"
            )
        return self

    @pydantic.model_serializer(mode="wrap")
    def _without_unset_escape(
        self, handler: pydantic.SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        # an option added later is left out while unset, so fingerprints stay as they were
        data: dict[str, Any] = handler(self)
        if data.get("escape") is None:
            data.pop("escape", None)
        return data

    @property
    def reject_limit(self) -> float:
        return reject_fraction(self.max_reject_fraction)

    def resolved_format(self) -> str:
        return file_options.format_of(self.path, self.format)


class FilesSourceConfig(StrictModel):
    type: Literal["files"]
    description: str | None = None
    tables: dict[str, FileTableConfig]


def reject_fraction(value: float | str) -> float:
    """``5%`` or ``0.05`` -> 0.05; anything else is an error that says what is allowed."""
    text = str(value).strip()
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"'{value}' is not a fraction: write e.g. 5% or 0.05") from None
    if not 0 <= fraction <= 1:
        raise ValueError(f"'{value}' is not between 0% and 100%")
    return fraction


# Source types by the name a user writes in ``type:``; a new source type is a new entry.
