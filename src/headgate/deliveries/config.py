"""What a ``deliveries/*.yml`` file may say, and loading them with file and line for every mistake.

One file is one delivery, named by its file stem. Its ``type`` picks the schema:
``export`` (a model to a CSV, Parquet or JSON file), ``report`` (an HTML page, and a
PDF where the machine can print one) or ``notebook`` (a Jupyter notebook run with
parameters). The schemas forbid unknown keys, so a typo is an error and not a
silently ignored option.
"""

from __future__ import annotations

import keyword
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from headgate.deliveries.queries import parse_query
from headgate.errors import Location, ProjectError, ProjectErrors
from headgate.project.config import StrictModel
from headgate.project.yamlfile import load_yaml_file

FOLDER = "deliveries"
PLACEHOLDERS = ("date", "environment", "name")
ExportFormat = Literal["csv", "parquet", "json", "ndjson"]
EXPORT_SUFFIXES: dict[str, ExportFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
MODEL_NAME = re.compile(r"[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)*")


def _model_name(value: str) -> str:
    name = value.strip().lower()
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(f"'{value}' is not a model name (e.g. marts.daily_revenue)")
    return name


def _output_template(value: str) -> str:
    """An output path may name ``{date}``, ``{environment}`` and ``{name}``, nothing else."""
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = [(f, s, c) for _, f, s, c in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad placeholder in path: {exc}") from None
    for field, spec, conversion in fields:
        if field not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"unknown placeholder '{{{field}}}' (allowed: {allowed})")
    if not value.strip():
        raise ValueError("the path is empty")
    return value


def _switch(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false and `on` as true
    if value is False:
        return "off"
    if value is True:
        return "auto"
    return value


class ExportConfig(StrictModel):
    """A model written to one file, replaced atomically on every delivery."""

    type: Literal["export"]
    description: str | None = None
    model: str
    format: ExportFormat | None = Field(
        default=None,
        description="csv | parquet | json | ndjson; taken from the path's suffix if absent",
    )
    path: str

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return _model_name(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _output_template(value)

    @model_validator(mode="after")
    def _format_known(self) -> ExportConfig:
        if self.format is None and Path(self.path).suffix.lower() not in EXPORT_SUFFIXES:
            raise ValueError(
                "say the file's format (format: csv | parquet | json | ndjson) "
                "or give the path a .csv, .parquet, .json or .ndjson suffix"
            )
        return self

    def resolved_format(self) -> ExportFormat:
        if self.format is not None:
            return self.format
        return EXPORT_SUFFIXES[Path(self.path).suffix.lower()]


class ChartConfig(StrictModel):
    """A chart of a section's rows: ``x`` is a column, ``y`` one column or several (one series each)."""

    type: Literal["line", "bar"]
    x: str
    y: str | list[str]
    title: str | None = None

    @property
    def y_columns(self) -> list[str]:
        return [self.y] if isinstance(self.y, str) else list(self.y)

    @field_validator("y")
    @classmethod
    def _some_y(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one column")
        return value


class SectionConfig(StrictModel):
    """One part of a report: the rows of a query or a model, as a table and optionally a chart."""

    title: str
    description: str | None = None
    query: str | None = None
    model: str | None = None
    limit: int = Field(default=50, ge=1, le=10_000, description="rows shown in the table")
    chart: ChartConfig | None = None

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        return None if value is None else _model_name(value)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None:
            parse_query(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SectionConfig:
        if (self.query is None) == (self.model is None):
            raise ValueError("give either query: (SQL naming models) or model: (a model's name)")
        return self


class ReportConfig(StrictModel):
    """An HTML page (and PDF) of tables, charts and the run's check results."""

    type: Literal["report"]
    description: str | None = None
    reads: list[str] = Field(default_factory=list)
    title: str | None = None
    template: str | None = None
    sections: list[SectionConfig] = Field(default_factory=list)
    output: str | None = Field(default=None, description="default: out/reports/{name}.html")
    pdf: Literal["auto", "required", "off"] = "auto"
    checks: Literal["all", "reads", "off"] = Field(
        default="all", description="which check results the report lists"
    )

    @field_validator("reads")
    @classmethod
    def _reads(cls, value: list[str]) -> list[str]:
        return [_model_name(m) for m in value]

    @field_validator("output")
    @classmethod
    def _output(cls, value: str | None) -> str | None:
        return None if value is None else _output_template(value)

    @field_validator("pdf", "checks", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        return _switch(value)


class NotebookConfig(StrictModel):
    """A Jupyter notebook executed with parameters; kept executed and as HTML."""

    type: Literal["notebook"]
    description: str | None = None
    notebook: str
    reads: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    output: str | None = Field(
        default=None, description="path without suffix; default: out/notebooks/{name}"
    )
    timeout_seconds: int = Field(default=600, ge=1, description="for the whole notebook")
    kernel: str = "python3"
    hide_input: bool = Field(default=False, description="leave the code out of the HTML")

    @field_validator("reads")
    @classmethod
    def _reads(cls, value: list[str]) -> list[str]:
        return [_model_name(m) for m in value]

    @field_validator("output")
    @classmethod
    def _output(cls, value: str | None) -> str | None:
        return None if value is None else _output_template(value)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not str(name).isidentifier() or keyword.iskeyword(str(name)):
                raise ValueError(f"parameter '{name}' is not a Python name")
            if str(name).startswith("headgate_"):
                raise ValueError(
                    f"parameter '{name}': names starting with headgate_ are set by headgate"
                )
        return value


DeliveryConfig = ExportConfig | ReportConfig | NotebookConfig

CONFIGS: dict[str, type[ExportConfig] | type[ReportConfig] | type[NotebookConfig]] = {
    "export": ExportConfig,
    "report": ReportConfig,
    "notebook": NotebookConfig,
}


@dataclass(frozen=True)
class Delivery:
    """One delivery as declared: its name (the file stem), its file and its options."""

    name: str
    path: Path
    config: DeliveryConfig

    @property
    def type(self) -> str:
        return self.config.type


def load_deliveries(root: Path) -> dict[str, Delivery]:
    """Every delivery in ``root/deliveries``, by name; all problems are reported together."""
    folder = root / FOLDER
    deliveries: dict[str, Delivery] = {}
    errors: list[ProjectError] = []
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    for path in files:
        try:
            delivery = load_delivery(path, root)
        except ProjectError as exc:
            errors.append(exc)
            continue
        if delivery.name in deliveries:
            other = deliveries[delivery.name].path.name
            errors.append(
                ProjectError(
                    f"delivery '{delivery.name}' is declared twice (also in {other})",
                    Location(path),
                )
            )
            continue
        deliveries[delivery.name] = delivery
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
    return deliveries


def load_delivery(path: Path, root: Path) -> Delivery:
    """One delivery file, validated, with the files it names checked to exist."""
    doc = load_yaml_file(path)
    name = path.stem.lower()
    allowed = ", ".join(CONFIGS)
    kind = doc.data.get("type")
    if kind is None:
        raise ProjectError(
            f"delivery '{name}': missing required option 'type'",
            doc.location(),
            hint=f"allowed: {allowed}",
        )
    schema = CONFIGS.get(str(kind))
    if schema is None:
        raise ProjectError(
            f"unknown delivery type '{kind}'", doc.location(("type",)), hint=f"allowed: {allowed}"
        )
    config: DeliveryConfig = doc.validate(schema, f"delivery '{name}'")
    named: list[tuple[str, str | None]] = []
    if isinstance(config, ReportConfig):
        named.append(("template", config.template))
    if isinstance(config, NotebookConfig):
        named.append(("notebook", config.notebook))
    for key, relative in named:
        if relative is not None and not (root / relative).is_file():
            raise ProjectError(
                f"delivery '{name}': {key} '{relative}' does not exist",
                doc.location((key,)),
                hint="paths are relative to the project folder",
            )
    return Delivery(name, path, config)
