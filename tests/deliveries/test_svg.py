"""SVG charts: one point per row, honest axes, calendar ticks, and escaped text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from headgate.deliveries.svg import Series, chart, format_tick, nice_ticks, time_ticks


def parse(svg: str) -> ET.Element:
    """The chart as XML: proves it is well-formed (escaping included)."""
    return ET.fromstring(svg)


def polyline_points(svg: str) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for attribute in re.findall(r'<polyline class="series" points="([^"]*)"', svg):
        for pair in attribute.split():
            x, y = pair.split(",")
            points.append((float(x), float(y)))
    return points


def test_a_line_chart_has_one_point_per_row_in_order() -> None:
    days = [date(2024, 3, 1) + timedelta(days=i) for i in range(14)]
    values = [Decimal(100 + 10 * i) for i in range(14)]
    svg = chart("line", days, [Series("revenue", values)], title="Revenue", x_label="day")
    root = parse(svg)
    points = polyline_points(svg)
    assert len(points) == 14
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert points[0][1] > points[-1][1]  # rising values are drawn higher (smaller y)
    assert len(root.findall("circle")) == 14  # hover markers with the exact values
    assert "2024-03-01 · revenue: 100" in svg
    labels = [t.text for t in root.findall("text")]
    assert "Revenue" in labels and "day" in labels
    assert "2024-03-04" in labels  # a Monday: weekly ticks on a two-week range


def test_missing_values_break_the_line() -> None:
    svg = chart("line", [1, 2, 3, 4, 5], [Series("y", [1.0, 2.0, None, 4.0, 5.0])])
    assert svg.count("<polyline") == 2
    assert len(polyline_points(svg)) == 4


def test_several_series_get_a_legend() -> None:
    svg = chart("line", ["a", "b", "c"], [Series("north", [1, 2, 3]), Series("south", [3, 2, 1])])
    root = parse(svg)
    assert svg.count("<polyline") == 2
    assert {"north", "south"} <= {t.text for t in root.findall("text")}


def test_a_bar_chart_starts_at_zero_and_draws_negative_bars_down() -> None:
    svg = chart("bar", ["a", "b", "c"], [Series("delta", [5, -2, 3])])
    root = parse(svg)
    bars = root.findall("rect[@class='bar']")
    assert len(bars) == 3
    tops = [float(b.get("y", "0")) for b in bars]
    heights = [float(b.get("height", "0")) for b in bars]
    zero = tops[0] + heights[0]  # the first bar is positive: it ends at the zero line
    assert tops[1] == pytest.approx(zero, abs=0.2)  # the negative bar hangs from zero
    assert "0" in {t.text for t in root.findall("text")}


def test_text_is_escaped() -> None:
    svg = chart(
        "bar", ["<b>", "a&b"], [Series('"x" <script>', [1, 2])], title="</svg><script>alert(1)"
    )
    parse(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_no_rows_is_said_not_drawn() -> None:
    svg = chart("line", [], [Series("y", [])], title="Empty")
    assert "no rows to chart" in svg
    assert "<polyline" not in svg


def test_a_value_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(ValueError, match="'high' is not a number"):
        chart("bar", ["a"], [Series("y", ["high"])])


def test_ticks_are_round_numbers() -> None:
    assert nice_ticks(3, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.012, 0.034) == [0.01, 0.015, 0.02, 0.025, 0.03, 0.035]
    ticks = nice_ticks(-120, 4500)
    assert ticks[0] <= -120 and ticks[-1] >= 4500
    assert [format_tick(t, ticks) for t in ticks][:3] == ["-1,000", "0", "1,000"]
    assert format_tick(0.015, [0.01, 0.015]) == "0.015"


def test_date_ticks_follow_the_calendar() -> None:
    def labels(start: datetime, end: datetime) -> list[str]:
        epoch = datetime(1970, 1, 1)
        lo, hi = (start - epoch).total_seconds(), (end - epoch).total_seconds()
        return [label for _, label in time_ticks(lo, hi, 7)]

    day = datetime(2024, 1, 1)
    assert labels(day, day + timedelta(hours=3)) == ["00:00", "01:00", "02:00", "03:00"]
    assert labels(day, day + timedelta(days=5)) == [f"2024-01-0{d}" for d in range(1, 7)]
    assert labels(day, datetime(2024, 7, 1)) == [f"2024-0{m}" for m in range(1, 8)]
    assert labels(datetime(2015, 6, 1), datetime(2045, 1, 1))[:2] == ["2020", "2025"]
