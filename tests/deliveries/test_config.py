"""Loading ``deliveries/*.yml``: valid files become deliveries, mistakes name their file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from headgate.deliveries import DELIVERY_TYPES, delivery_reads, load_deliveries
from headgate.deliveries.config import CONFIGS, ExportConfig, NotebookConfig, ReportConfig
from headgate.errors import ProjectError, ProjectErrors


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


WEEKLY = """
type: report            # export | report | notebook
description: Weekly revenue for the finance team.
reads: [marts.daily_revenue, marts.monthly_kpis]
title: Weekly revenue
template: templates/weekly.html.j2
sections:
  - {title: Revenue by day, query: "select order_date, revenue_eur from marts.daily_revenue d join marts.calendar c using (order_date) order by 1", chart: {type: line, x: order_date, y: revenue_eur}}
  - {title: KPIs, model: marts.monthly_kpis, limit: 24}
output: out/reports/weekly.html
pdf: off
"""


def test_the_three_types_load_with_their_options(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "deliveries/weekly.yml": WEEKLY,
            "templates/weekly.html.j2": "{{ report.title }}",
            "deliveries/segments.yml": """
                type: export
                model: Marts.Customer_Segments
                path: out/exports/{environment}/segments-{date}.parquet
            """,
            "deliveries/analysis.yaml": """
                type: notebook
                notebook: notebooks/analysis.ipynb
                reads: [marts.daily_revenue]
                parameters: {days: 30, since: 2024-01-01}
                output: out/notebooks/analysis
                timeout_seconds: 300
            """,
            "notebooks/analysis.ipynb": "{}",
        },
    )
    deliveries = load_deliveries(root)
    assert sorted(deliveries) == ["analysis", "segments", "weekly"]
    weekly = deliveries["weekly"].config
    assert isinstance(weekly, ReportConfig)
    assert weekly.pdf == "off"  # YAML reads a bare `off` as false
    assert weekly.sections[1].limit == 24
    assert weekly.sections[0].chart is not None and weekly.sections[0].chart.y_columns == [
        "revenue_eur"
    ]
    segments = deliveries["segments"].config
    assert isinstance(segments, ExportConfig)
    assert segments.model == "marts.customer_segments"
    assert segments.resolved_format() == "parquet"
    analysis = deliveries["analysis"].config
    assert isinstance(analysis, NotebookConfig)
    assert analysis.parameters["days"] == 30
    assert deliveries["analysis"].path.name == "analysis.yaml"
    # what each delivery reads: declared, section models, and tables its queries name
    assert delivery_reads(deliveries["weekly"]) == [
        "marts.daily_revenue",
        "marts.monthly_kpis",
        "marts.calendar",
    ]
    assert delivery_reads(deliveries["segments"]) == ["marts.customer_segments"]
    assert delivery_reads(deliveries["analysis"]) == ["marts.daily_revenue"]


def test_every_config_type_has_a_registered_delivery_type() -> None:
    assert set(CONFIGS) == set(DELIVERY_TYPES)
    for name, kind in DELIVERY_TYPES.items():
        assert kind.config_model is CONFIGS[name]


def test_no_deliveries_folder_means_no_deliveries(tmp_path: Path) -> None:
    assert load_deliveries(tmp_path) == {}


def error_of(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> ProjectError:
    write(tmp_path, {"deliveries/bad.yml": text, **(extra or {})})
    with pytest.raises(ProjectError) as caught:
        load_deliveries(tmp_path)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param(
            "description: x\ntype: dashboard\n",
            2,
            ["unknown delivery type 'dashboard'", "allowed: export, report, notebook"],
            id="unknown-type",
        ),
        pytest.param(
            "model: marts.x\npath: x.csv\n", 1, ["missing required option 'type'"], id="no-type"
        ),
        pytest.param(
            "type: export\nmodel: marts.x\npath: x.csv\nformt: csv\n",
            4,
            ["unknown option 'formt'", "allowed here:", "format"],
            id="typo",
        ),
        pytest.param(
            "type: export\nmodel: marts.x\npath: out/x.txt\n",
            1,
            ["say the file's format"],
            id="export-format-unknown",
        ),
        pytest.param(
            "type: export\nmodel: marts.x\npath: out/{day}/x.csv\n",
            3,
            ["unknown placeholder '{day}'", "{date}"],
            id="bad-placeholder",
        ),
        pytest.param(
            "type: report\nsections:\n  - title: A\n    model: marts.a\n  - title: B\n"
            "    query: delete from marts.a\n",
            6,
            ["sections.1.query", "DELETE is not allowed"],
            id="writing-query",
        ),
        pytest.param(
            "type: report\nsections:\n  - title: A\n    query: select from where\n",
            4,
            ["sections.0.query", "SQL syntax error"],
            id="broken-query",
        ),
        pytest.param(
            "type: report\nsections:\n  - title: A\n    model: marts.a\n    query: select 1\n",
            3,
            ["either query"],
            id="query-and-model",
        ),
        pytest.param(
            "type: report\nsections:\n  - title: A\n    model: marts.a\n"
            "    chart: {type: pie, x: a, y: b}\n",
            5,
            ["sections.0.chart.type"],
            id="chart-type",
        ),
        pytest.param(
            "type: report\npdf: maybe\n", 2, ["'pdf'", "auto", "required"], id="pdf-choice"
        ),
        pytest.param(
            "type: notebook\nnotebook: n.ipynb\nparameters:\n  days: 3\n  headgate_tables: {}\n",
            3,
            ["headgate_tables", "set by headgate"],
            id="reserved-parameter",
        ),
        pytest.param(
            "type: notebook\nnotebook: missing.ipynb\n",
            2,
            ["notebook 'missing.ipynb' does not exist"],
            id="missing-notebook",
        ),
        pytest.param(
            "type: report\ntemplate: templates/none.html.j2\n",
            2,
            ["template 'templates/none.html.j2' does not exist"],
            id="missing-template",
        ),
        pytest.param(
            "type: report\nreads: [marts.ok, 'not a model']\n",
            2,
            ["'not a model' is not a model name"],
            id="bad-model-name",
        ),
        pytest.param("type: report\nsections: [\n", 3, ["invalid YAML"], id="yaml-syntax"),
    ],
)
def test_mistakes_name_the_file_and_line(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    error = error_of(tmp_path, text, {"n.ipynb": "{}"})
    assert error.location is not None
    assert error.location.path.name == "bad.yml"
    assert error.location.line == line, error.render()
    rendered = error.render()
    for word in words:
        assert word in rendered, rendered


def test_several_bad_files_are_reported_together(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "deliveries/a.yml": "type: nope\n",
            "deliveries/b.yml": "type: export\nmodel: m.x\n",
            "deliveries/c.yml": "type: export\nmodel: m.x\npath: c.csv\n",
            "deliveries/c.yaml": "type: export\nmodel: m.x\npath: c2.csv\n",
        },
    )
    with pytest.raises(ProjectErrors) as caught:
        load_deliveries(tmp_path)
    rendered = caught.value.render()
    assert len(caught.value.errors) == 3
    assert "a.yml:1" in rendered
    assert "b.yml" in rendered and "missing required option 'path'" in rendered
    assert "delivery 'c' is declared twice" in rendered
