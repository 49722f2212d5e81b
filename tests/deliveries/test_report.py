"""Reports: the environment's rows as tables and SVG charts, the run's checks, no external assets."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest

from headgate.checks.results import CheckResult
from headgate.checks.spec import Check
from headgate.deliveries import run_delivery
from headgate.deliveries.base import DeliveryContext, DeliveryResult
from headgate.deliveries.pdf import find_chromium
from headgate.state.records import CheckResultRecord
from tests.conftest import require_service
from tests.deliveries.support import DAYS, MONTHS, Warehouse, declare, revenue

WEEKLY = """
type: report
description: Weekly revenue for the finance team.
reads: [marts.daily_revenue, marts.monthly_kpis]
title: Weekly revenue
sections:
  - title: Revenue by day
    query: "select order_date, revenue_eur from marts.daily_revenue order by 1"
    chart: {type: line, x: order_date, y: revenue_eur}
  - {title: KPIs, model: marts.monthly_kpis, limit: 24, chart: {type: bar, x: month, y: [customers]}}
output: out/reports/weekly.html
pdf: off
"""


def check_results() -> list[object]:
    def check(name: str, model: str) -> Check:
        return Check(name=name, model=model, column=None, type="custom", params={})

    return [
        CheckResult(check("not_null_order_date", "marts.daily_revenue"), "pass", "no nulls"),
        CheckResult(
            check("revenue_positive", "marts.daily_revenue"),
            "fail",
            "3 rows with revenue < 0 <b>bold?</b>",
            failing_rows=3,
            total_rows=14,
        ),
        CheckResultRecord(
            model="staging.orders",
            check_name="accepted_values_status",
            check_type="accepted_values",
            status="warn",
            severity="warn",
            failing_rows=1204,
            message="1,204 rows with an unexpected status",
        ),
    ]


def deliver(
    warehouse: Warehouse, ctx: DeliveryContext, text: str = WEEKLY, name: str = "weekly"
) -> tuple[str, DeliveryResult]:
    result = run_delivery(declare(warehouse.root, name, text), ctx)
    assert result.status == "delivered", result.message
    html = result.outputs[0].read_text()
    return html, result


def test_the_report_shows_rows_charts_and_checks(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    ctx = make_context(check_results=check_results())
    html, result = deliver(warehouse, ctx)
    # the environment's rows, read through its views (prod's table holds 999999.99)
    assert "2024-03-01" in html and f"{revenue(DAYS - 1):,}" in html
    assert "999,999.99" not in html
    assert "Showing 24 of 30 rows." in html
    assert f"{DAYS} rows." in html
    # one chart per section with a chart: 14 points on the line, 30 bars (all rows, not 24)
    assert html.count("<svg") == 2
    points = re.search(r'<polyline class="series" points="([^"]*)"', html)
    assert points is not None and len(points.group(1).split()) == DAYS
    assert html.count('class="bar"') == MONTHS
    # what, when, where
    assert "<h1>Weekly revenue</h1>" in html
    assert "dev-alice" in html and "2024-03-15 09:30" in html and "run 41" in html
    # the run's checks: counts and every one that did not pass, escaped
    assert re.search(r"<b>1</b><span class=\"status status-fail\">fail</span>", html)
    assert "revenue_positive" in html and "accepted_values_status" in html
    assert "3 rows with revenue &lt; 0 &lt;b&gt;bold?&lt;/b&gt;" in html
    assert "not_null_order_date" not in html  # passing checks are counted, not listed
    # self-contained: nothing fetched from anywhere, nothing to run
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html
    assert result.rows == DAYS + MONTHS


def test_checks_can_be_limited_to_the_models_read(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    text = WEEKLY + "checks: reads\n"
    html, _ = deliver(warehouse, make_context(check_results=check_results()), text)
    assert "revenue_positive" in html
    assert "accepted_values_status" not in html
    assert "2 check results on the models this report reads." in html


def test_a_project_template_extends_the_built_in_one(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    template = warehouse.root / "templates" / "weekly.html.j2"
    template.parent.mkdir()
    template.write_text(
        '{% extends "headgate/report.html.j2" %}\n'
        "{% block footer %}<footer>For finance, from {{ report.environment }}</footer>{% endblock %}\n"
    )
    text = WEEKLY.replace("output:", "template: templates/weekly.html.j2\noutput:")
    html, _ = deliver(warehouse, make_context(), text)
    assert "<footer>For finance, from dev-alice</footer>" in html
    assert "Revenue by day" in html and "Delivered by headgate" not in html


@pytest.mark.parametrize(
    ("body", "line"),
    [
        pytest.param("<h1>{{ report.title }}</h1>\n<p>\n{% if %}\n", 3, id="syntax"),
        pytest.param("<h1>{{ report.title }}</h1>\n{{ report.nope }}\n", 2, id="undefined"),
    ],
)
def test_template_mistakes_name_the_template_and_line(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext], body: str, line: int
) -> None:
    template = warehouse.root / "weekly.html.j2"
    template.write_text(body)
    text = WEEKLY.replace("output:", "template: weekly.html.j2\noutput:")
    result = run_delivery(declare(warehouse.root, "weekly", text), make_context())
    assert result.status == "failed"
    assert f"weekly.html.j2:{line}" in result.message, result.message
    assert not (warehouse.root / "out/reports/weekly.html").exists()


def test_a_chart_of_a_missing_column_fails_the_report(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    text = WEEKLY.replace("y: revenue_eur", "y: revenue")
    result = run_delivery(declare(warehouse.root, "weekly", text), make_context())
    assert result.status == "failed"
    assert "chart column 'revenue' is not among the query's columns" in result.message
    assert "order_date, revenue_eur" in result.message


def test_the_output_path_defaults_to_the_delivery_name(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    text = (
        "type: report\npdf: off\nsections:\n  - {title: Segments, model: marts.customer_segments}\n"
    )
    html, result = deliver(warehouse, make_context(), text, name="segments")
    assert result.outputs == [warehouse.root / "out/reports/segments.html"]
    assert "<h1>Segments</h1>" in html
    assert "loyal, &#34;gold&#34;" in html  # Jinja escapes quotes too
    assert "No check results in this run." in html


def test_without_a_pdf_engine_auto_notes_it_and_required_fails(
    warehouse: Warehouse,
    make_context: Callable[..., DeliveryContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADGATE_CHROMIUM", str(warehouse.root / "no-such-browser"))
    auto = run_delivery(
        declare(warehouse.root, "weekly", WEEKLY.replace("pdf: off", "pdf: auto")), make_context()
    )
    assert auto.status == "delivered"
    assert auto.outputs == [warehouse.root / "out/reports/weekly.html"]
    assert "no PDF:" in auto.message and "is not an executable" in auto.message
    required = run_delivery(
        declare(warehouse.root, "weekly", WEEKLY.replace("pdf: off", "pdf: required")),
        make_context(),
    )
    assert required.status == "failed"
    assert "pdf: required, but no PDF was made" in required.message
    assert required.outputs == [warehouse.root / "out/reports/weekly.html"]  # the HTML is kept


def test_a_pdf_is_printed_when_chromium_is_present(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    chromium = find_chromium()
    if chromium is None:
        require_service(
            "Chromium", "PATH (which chromium)", "not installed; `make test` installs it"
        )
    # print_pdf stops a Chromium that hangs (120 s): the test needs no clock of its own
    result = run_delivery(
        declare(warehouse.root, "weekly", WEEKLY.replace("pdf: off", "pdf: required")),
        make_context(check_results=check_results()),
    )
    assert result.status == "delivered", result.message
    pdf = warehouse.root / "out/reports/weekly.pdf"
    assert result.outputs == [warehouse.root / "out/reports/weekly.html", pdf]
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pdf.stat().st_size > 5_000
    assert [n for n in os.listdir(pdf.parent) if n.endswith(".tmp")] == []


def test_reports_read_only_models_by_name_not_other_sql(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    """A CTE named like a model stays the CTE; a table that is not a model is read as written."""
    text = """
        type: report
        pdf: off
        sections:
          - title: Mixed
            query: |
              with marts_daily as (select * from marts.daily_revenue)
              select count(*) as days, (select count(*) from information_schema.schemata) > 0 as ok
              from marts_daily
    """
    html, _ = deliver(warehouse, make_context(), text, name="mixed")
    assert re.search(rf'<td class="num">{DAYS}</td>\s*<td>true</td>', html)


def test_a_section_reading_an_unpublished_model_fails(
    warehouse: Warehouse, make_context: Callable[..., DeliveryContext]
) -> None:
    text = "type: report\npdf: off\nsections:\n  - {title: X, model: marts.not_built}\n"
    result = run_delivery(declare(warehouse.root, "x", text), make_context())
    assert result.status == "failed"
    assert "model 'marts.not_built' is not published in environment 'dev-alice'" in result.message
    assert result.seconds >= 0 and result.outputs == []
