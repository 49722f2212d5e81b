"""EWMA, CUSUM and weekly charts: small lasting shifts the Western Electric rules miss, a
weekly pattern, and the chart picked from a metric's history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headgate.checks.spc import control_chart, judge_monitor, monitor_spec
from headgate.checks.spc_charts import cusum_chart, ewma_chart, pick_chart, weekly_chart


def shifted_series(seed: int) -> tuple[list[float], list[float]]:
    """30 calm runs around 1,000 (sigma 10), then 16 runs one sigma higher."""
    draw = random.Random(seed)
    calm = [round(1000 + draw.gauss(0, 10), 1) for _ in range(30)]
    shifted = [round(1010 + draw.gauss(0, 10), 1) for _ in range(16)]
    return calm, shifted


@pytest.mark.parametrize("seed", [105, 172])
def test_a_small_lasting_shift_missed_by_western_electric_is_caught(seed: int) -> None:
    calm, shifted = shifted_series(seed)
    series = calm + shifted
    # judged run by run, as the monitor does at every build
    assert not any(control_chart(series[:n]).out_of_control for n in range(9, len(series) + 1))
    assert not any(ewma_chart(calm[:n]).out_of_control for n in range(9, len(calm) + 1))
    assert not any(cusum_chart(calm[:n]).out_of_control for n in range(9, len(calm) + 1))
    ewma, cusum = ewma_chart(series), cusum_chart(series)
    assert ewma.verdict == "out of control" and ewma.chart == "ewma"
    assert cusum.verdict == "out of control" and cusum.chart == "cusum"
    newest = len(series) - 1
    (by_ewma,) = [f for f in ewma.flags if newest in f.indices]
    assert by_ewma.rule == 5 and by_ewma.side == 1 and by_ewma.message.startswith("EWMA")
    (by_cusum,) = [f for f in cusum.flags if newest in f.indices]
    assert by_cusum.rule == 6 and by_cusum.message.startswith("CUSUM")


def test_one_wild_run_still_fails_an_ewma_or_cusum_monitor() -> None:
    calm, _ = shifted_series(105)
    spiked = [*calm, 1100.0]
    for chart in (ewma_chart(spiked), cusum_chart(spiked)):
        assert chart.out_of_control
        assert 1 in [f.rule for f in chart.flags if len(spiked) - 1 in f.indices]
    # a 10-sigma jump moves an EWMA of weight 0.1 by one sigma only: rule 1 is what sees it
    assert [f.rule for f in ewma_chart(spiked).flags if len(spiked) - 1 in f.indices] == [1]


def test_a_one_sided_cusum_ignores_the_other_side() -> None:
    calm, shifted = shifted_series(105)
    series = calm + shifted
    assert not cusum_chart(series, direction="drop").out_of_control
    assert cusum_chart(series, direction="growth").out_of_control


def weekly_history(weeks: int) -> tuple[list[float], list[datetime]]:
    """Daily runs: weekdays near 1,000 rows, Mondays near 3,000 (the weekend's orders)."""
    start = datetime(2026, 9, 7, 6, tzinfo=UTC)  # a Monday
    draw = random.Random(3)
    values, times = [], []
    for day in range(weeks * 7):
        at = start + timedelta(days=day)
        base = 3000.0 if at.weekday() == 0 else 400.0 if at.weekday() >= 5 else 1000.0
        values.append(round(base + draw.gauss(0, 20), 1))
        times.append(at)
    return values, times


def test_a_monday_is_compared_with_mondays() -> None:
    values, times = weekly_history(6)
    monday = times[-7] + timedelta(days=7)
    assert monday.weekday() == 0
    # a normal Monday: far above the other days, in control among Mondays
    normal = weekly_chart([*values, 3010.0], [*times, monday])
    assert normal.verdict == "in control"
    assert control_chart([*values, 3010.0]).out_of_control  # every day alike: a false alarm
    # a Monday with a weekday's volume: the weekend's orders are missing
    low = weekly_chart([*values, 1000.0], [*times, monday])
    assert low.verdict == "out of control"
    assert low.history == 6


def test_the_chart_is_picked_from_the_metric_s_history() -> None:
    values, times = weekly_history(4)
    assert pick_chart(values, times)[0] == "weekly"
    calm, _ = shifted_series(105)
    assert pick_chart(calm, None) == (
        "ewma",
        "steady noise, where a small lasting shift is the risk",
    )
    assert pick_chart(calm, None, direction="drop")[0] == "cusum"
    assert pick_chart(calm[:10], None)[0] == "western_electric"  # too short to tell
    assert pick_chart([500.0] * 20 + [501.0], None)[0] == "western_electric"  # rarely changes
    spiky = [*calm[:20], 1200.0, *calm[20:]]
    assert pick_chart(spiky, None)[0] == "western_electric"


def test_a_monitor_names_its_chart_in_its_config() -> None:
    spec = monitor_spec({"metric": "row_count", "chart": "cusum", "slack": 0.25})
    assert spec.chart == "cusum" and spec.slack == 0.25
    assert monitor_spec({"metric": "row_count"}).chart is None  # picked from history
    calm, shifted = shifted_series(172)
    history = calm + shifted
    judged = judge_monitor(spec, history[:-1], history[-1])
    assert judged.chart == "cusum" and judged.out_of_control
    with pytest.raises(ValueError, match="chart is one of auto, western_electric, ewma"):
        monitor_spec({"metric": "row_count", "chart": "shewhart"})
    with pytest.raises(ValueError, match="weight is between 0 and 1"):
        monitor_spec({"metric": "row_count", "chart": "ewma", "weight": 2})


def test_the_picked_chart_is_kept_so_it_does_not_change_between_runs(tmp_path: Path) -> None:
    from headgate.runtime.monitoring import chart_of
    from headgate.state.store import StateStore

    spec = monitor_spec({"metric": "row_count"})
    calm, _ = shifted_series(105)
    with StateStore.open(None, project_dir=tmp_path) as store:
        short = calm[:10]
        assert chart_of(store, "orders", spec, short, None) == "western_electric"
        assert chart_of(store, "orders", spec, calm, None) == "ewma"  # 30 runs: picked, kept
        spiky = [*calm[:20], 1200.0, 1300.0, *calm[20:]]
        assert chart_of(store, "orders", spec, spiky, None) == "ewma"
        assert chart_of(store, "refunds", spec, spiky, None) == "western_electric"
