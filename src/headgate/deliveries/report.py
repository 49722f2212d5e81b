"""Report: an HTML page of tables, SVG charts and the run's check results, and a PDF of it.

Each section reads a model, or a query naming models, in the delivery's
environment. The page is rendered from a Jinja template (the built-in
``templates/report.html.j2`` or the project's own, which may extend it as
``headgate/report.html.j2``) with autoescaping on, and is self-contained: inline
CSS, inline SVG, no scripts and no external assets, so it opens offline, in a mail
client, or printed. A PDF is printed next to it when a Chromium is available.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headgate.deliveries.base import (
    CheckOutcome,
    DeliveryContext,
    DeliveryResult,
    DeliveryType,
    check_name,
)
from headgate.deliveries.config import Delivery, ReportConfig, SectionConfig
from headgate.deliveries.files import output_path, shown, write_text_atomically
from headgate.deliveries.queries import environment_sql, model_sql, query_references
from headgate.deliveries.svg import Series, chart
from headgate.errors import HeadgateError, Location, ProjectError

if TYPE_CHECKING:
    import pyarrow as pa

TEMPLATES = Path(__file__).parent / "templates"
BUILTIN = "headgate/report.html.j2"
CHART_ROWS = 5_000  # rows a chart draws at most; the page says when there were more
STATUS_ORDER = ("pass", "warn", "fail", "error")


@dataclass
class SectionView:
    """A section as the template shows it: cells already formatted as text."""

    title: str
    description: str | None
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    row_count: int
    chart: str | None = None  # an <svg> element, marked safe for the template
    chart_note: str | None = None


@dataclass
class CheckLine:
    model: str
    name: str
    status: str
    message: str
    failing_rows: int | None


@dataclass
class CheckSummary:
    """The check results a report lists: counts by status and the ones that did not pass."""

    scope: str
    counts: dict[str, int]
    problems: list[CheckLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ReportType(DeliveryType[ReportConfig]):
    name = "report"
    config_model = ReportConfig

    def reads(self, delivery: Delivery) -> list[str]:
        config = self.config(delivery)
        names = list(config.reads)
        for section in config.sections:
            names += [section.model] if section.model else query_references(section.query or "")
        return list(dict.fromkeys(names))

    def run(self, delivery: Delivery, ctx: DeliveryContext) -> DeliveryResult:
        from markupsafe import Markup

        config = self.config(delivery)
        sections = [read_section(s, ctx) for s in config.sections]
        for view in sections:
            view.chart = Markup(view.chart) if view.chart else None
        checks = None
        if config.checks != "off":
            reads = set(self.reads(delivery)) if config.checks == "reads" else None
            checks = summarize_checks(ctx.check_results, reads, config.checks)
        page = {
            "name": delivery.name,
            "title": config.title or delivery.name.replace("_", " ").capitalize(),
            "description": config.description,
            "environment": ctx.environment,
            "run_id": ctx.run_id,
            "generated_at": ctx.now.strftime("%Y-%m-%d %H:%M %Z").strip(),
        }
        html = render(config, ctx.root, {"report": page, "sections": sections, "checks": checks})
        path = output_path(config.output or "out/reports/{name}.html", ctx, delivery.name)
        write_text_atomically(path, html)
        rows = sum(s.row_count for s in sections)
        result = DeliveryResult(delivery.name, self.name, "delivered", outputs=[path], rows=rows)
        result.message = f"{len(sections)} section(s), {rows:,} rows to {shown(path, ctx.root)}"
        if config.pdf != "off":
            _add_pdf(result, path, config.pdf == "required")
        return result


def _add_pdf(result: DeliveryResult, html: Path, required: bool) -> None:
    from headgate.deliveries.pdf import find_chromium, missing_engine_note, print_pdf

    chromium = find_chromium()
    pdf = html.with_suffix(".pdf")
    try:
        if chromium is None:
            raise HeadgateError(missing_engine_note())
        print_pdf(html, pdf, chromium=chromium)
    except HeadgateError as exc:
        if required:
            result.status = "failed"
            result.message += f"; pdf: required, but no PDF was made: {exc.message}"
        else:
            result.message += f"; no PDF: {exc.message}"
        return
    result.outputs.append(pdf)
    result.message += f" and {pdf.name}"


def read_section(section: SectionConfig, ctx: DeliveryContext) -> SectionView:
    """Run one section's query in the environment: the rows to show, their count, its chart."""
    import pyarrow as pa

    if section.model:
        sql = model_sql(section.model, ctx.resolve, environment=ctx.environment)
    else:
        sql = environment_sql(
            section.query or "", ctx.resolve, dialect=ctx.session.capabilities.dialect
        )
    cap = max(section.limit, CHART_ROWS if section.chart else 0)
    table = ctx.session.arrow(f"SELECT * FROM ({sql}) AS q LIMIT {cap + 1}")
    row_count = table.num_rows
    if row_count > cap:
        row_count = int(ctx.session.execute(f"SELECT count(*) FROM ({sql}) AS q")[0][0])
        table = table.slice(0, cap)
    shown_rows = table.slice(0, section.limit)
    numeric = [
        pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
        for f in table.schema
    ]
    rows = [[cell(v) for v in row.values()] for row in shown_rows.to_pylist()]
    view = SectionView(
        section.title, section.description, table.column_names, numeric, rows, row_count
    )
    if section.chart is not None:
        view.chart = _chart(section, table)
        if row_count > table.num_rows:
            view.chart_note = f"The chart shows the first {table.num_rows:,} of {row_count:,} rows."
    return view


def _chart(section: SectionConfig, table: pa.Table) -> str:
    spec = section.chart
    assert spec is not None
    for column in [spec.x, *spec.y_columns]:
        if column not in table.column_names:
            raise HeadgateError(
                f"section '{section.title}': chart column '{column}' is not among the "
                f"query's columns ({', '.join(table.column_names)})"
            )
    x = table.column(spec.x).to_pylist()
    series = [Series(name, table.column(name).to_pylist()) for name in spec.y_columns]
    try:
        return chart(
            spec.type,
            x,
            series,
            title=spec.title or "",
            x_label=spec.x,
            y_label=spec.y_columns[0] if len(series) == 1 else "",
        )
    except ValueError as exc:
        raise HeadgateError(f"section '{section.title}': cannot chart: {exc}") from None


def cell(value: Any) -> str:
    """A value as a table shows it: exact decimals, grouped thousands for amounts, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def summarize_checks(
    results: Sequence[CheckOutcome], models: set[str] | None, scope: str
) -> CheckSummary:
    """Counts by status, and every check that did not pass (failures and errors first)."""
    outcomes: list[CheckOutcome] = [
        r for r in results if models is None or str(r.model).lower() in models
    ]
    counts = {status: 0 for status in STATUS_ORDER}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    rank = {"fail": 0, "error": 1, "warn": 2}
    problems = [
        CheckLine(o.model, check_name(o), o.status, o.message, o.failing_rows)
        for o in outcomes
        if o.status != "pass"
    ]
    problems.sort(key=lambda line: (rank.get(line.status, 3), line.model, line.name))
    return CheckSummary(scope, counts, problems)


def render(config: ReportConfig, root: Path, context: dict[str, Any]) -> str:
    """The page from the built-in template or the project's, errors naming template and line."""
    import jinja2

    builtin = jinja2.PrefixLoader({"headgate": jinja2.FileSystemLoader(str(TEMPLATES))})
    loader: jinja2.BaseLoader = builtin
    name = BUILTIN
    if config.template:
        template = root / config.template
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(template.parent)), builtin])
        name = template.name
    environment = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        return environment.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = Location(Path(exc.filename or name), exc.lineno or 0)
        raise ProjectError(f"report template: {exc.message}", where) from None
    except jinja2.TemplateError as exc:
        raise ProjectError(f"report template: {exc}", _template_location(exc, name)) from None


def _template_location(exc: BaseException, name: str) -> Location | None:
    """Where in a template a rendering error happened: Jinja puts template lines in the traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return None
    return Location(Path(frames[-1].filename), frames[-1].lineno or 0)
