"""Control charts: each Western Electric rule fires on the series it describes and on no other.

The series are crafted around a twenty-run history with median 100 and MAD 1, so a robust
sigma of 1.4826: 1, 2 and 3 sigma lie at 101.48, 102.97 and 104.45 above the center.
"""

from __future__ import annotations

import doctest

import pytest

from headgate.checks import spc
from headgate.checks.spc import control_chart, judge_monitor, monitor_spec, render_text

# Twenty runs of a stable metric, the last one below the center.
STABLE = [100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 101.0, 99.0]
STABLE += [100.5, 99.5, 101.5, 98.5, 100.0, 102.5, 97.5, 101.0, 100.0, 99.0]
SIGMA = 1.4826


def rules(values: list[float], **options: object) -> list[tuple[int, list[int]]]:
    chart = control_chart(values, **options)  # type: ignore[arg-type]
    return [(f.rule, f.indices) for f in chart.flags]


def test_stable_series_is_in_control() -> None:
    chart = control_chart(STABLE)
    assert chart.verdict == "in control" and chart.flags == []
    assert chart.center == 100.0 and chart.sigma is not None
    assert chart.sigma == pytest.approx(SIGMA)
    low, high = chart.limits["3"]
    assert (low, high) == pytest.approx((100 - 3 * chart.sigma, 100 + 3 * chart.sigma))
    assert [p.zone for p in chart.points][-1] == 0


def test_rule_1_one_point_beyond_three_sigma() -> None:
    chart = control_chart([*STABLE, 105.0])
    assert chart.verdict == "out of control"
    assert [(f.rule, f.indices, f.side) for f in chart.flags] == [(1, [20], 1)]
    assert chart.points[-1].zone == 3
    assert rules([*STABLE, 104.0]) == [], "3 sigma is 104.45"


def test_rule_2_two_of_three_beyond_two_sigma_on_one_side() -> None:
    # 96.8 and 96.7 are 2.2 sigma below: beyond 2 sigma, not beyond 3
    assert rules([*STABLE, 96.8, 100.0, 96.7]) == [(2, [20, 22])]
    assert rules([*STABLE, 96.8, 100.0, 103.2]) == [], "opposite sides do not count"


def test_rule_3_four_of_five_beyond_one_sigma_on_one_side() -> None:
    # 102 is 1.35 sigma above
    assert rules([*STABLE, 102.0, 102.0, 100.0, 102.0, 102.0]) == [(3, [20, 21, 23, 24])]
    assert rules([*STABLE, 102.0, 102.0, 100.0, 102.0]) == []


def test_rule_4_eight_in_a_row_on_one_side() -> None:
    # 100.5 is only a third of a sigma above: no other rule sees it, and the limits come
    # from the runs before these eight, so the shift cannot pull the center along
    creeping = [*STABLE, *[100.5] * 8]
    assert rules(creeping) == [(4, list(range(20, 28)))]
    assert rules(creeping[:-1]) == []
    chart = control_chart(creeping)
    assert chart.center == 100.0 and chart.history == 20


def test_no_verdict_without_enough_history() -> None:
    chart = control_chart([100.0, 101.0, 99.0, 500.0])
    assert chart.verdict == "insufficient history"
    assert chart.flags == [] and chart.history == 3
    assert control_chart([*STABLE[:7], 500.0]).verdict == "insufficient history"
    assert control_chart([*STABLE[:8], 500.0]).verdict == "out of control"
    assert control_chart([*STABLE[:4], 500.0], min_history=4).verdict == "out of control"
    # a short history keeps min_history runs for the limits: of nine earlier runs, the
    # limits use eight and the run just before the newest is judged with it
    assert control_chart([*STABLE[:9], 500.0]).history == 8


def test_robust_method_is_not_blinded_by_one_outlier_in_the_history() -> None:
    history = [*STABLE[:6], 400.0, *STABLE[7:]]  # one broken run long ago
    robust = control_chart([*history, 106.0])
    classic = control_chart([*history, 106.0], method="mean")
    assert [(f.rule, f.indices) for f in robust.flags] == [(1, [6]), (1, [20])]
    # the outlier inflated the standard deviation: 106 is not beyond 3 sigma of the mean,
    # and it dragged the center up so far that every later run sits below it
    assert classic.sigma is not None and robust.sigma is not None
    assert classic.sigma > 40 * robust.sigma and classic.center is not None
    assert classic.center > 120
    assert not [f for f in classic.flags if f.rule == 1 and 20 in f.indices]


def test_only_a_firing_that_includes_the_newest_run_fails_it() -> None:
    chart = control_chart([*STABLE[:9], 130.0, *STABLE[10:], 100.0])
    assert [(f.rule, f.indices) for f in chart.flags] == [(1, [9])]
    assert chart.verdict == "in control"


def test_window_limits_the_history_used() -> None:
    old_regime = [1000.0] * 30
    chart = control_chart([*old_regime, *STABLE, 100.0], window=12)
    # limits from runs 31..42 (the twelve before the last eight), all in the new regime
    assert chart.history == 12 and chart.center == 100.25
    assert chart.verdict == "in control"
    assert [p.index for p in chart.points] == list(range(31, 51))


def test_constant_history_flags_any_change() -> None:
    assert control_chart([0.0] * 10 + [0.0]).verdict == "in control"
    assert rules([0.0] * 10 + [0.01]) == [(1, [10])]


def test_monitor_parameters_are_validated_and_name_their_metric() -> None:
    spec = monitor_spec({"metric": "null_fraction", "method": "mean", "window": 10}, column="email")
    assert (spec.key, spec.method, spec.window, spec.min_history) == (
        "null_fraction:email",
        "mean",
        10,
        8,
    )
    assert monitor_spec({"metric": "row_count"}).key == "row_count"
    for bad, message in (
        ({"metric": "median"}, "metric is one of"),
        ({"metric": "mean"}, "needs a column"),
        ({"metric": "row_count", "column": "id"}, "not of a column"),
        ({"metric": "row_count", "window": 5, "min_history": 8}, "min_history <= window"),
        ({"metric": "row_count", "windw": 5}, "no parameter windw"),
    ):
        with pytest.raises(ValueError, match=message):
            monitor_spec(bad)
    chart = judge_monitor(spec, STABLE, 100.0)
    assert chart.method == "mean" and chart.window == 10 and chart.history == 10


def test_text_rendering_shows_limits_points_and_firings() -> None:
    text = render_text(control_chart([*STABLE, 106.0]))
    lines = text.splitlines()
    assert lines[0] == "out of control (western electric chart); method median, 13 earlier runs"
    assert lines[1].startswith("center 100, sigma 1.4826")
    assert lines[-2].endswith("X")  # the flagged run sits beyond the +3 sigma lane
    assert lines[-1] == "rule 1: one point beyond 3 sigma (above): run 20"


def test_chart_is_json_ready() -> None:
    data = control_chart([*STABLE, 106.0]).to_dict()
    assert data["verdict"] == "out of control"
    assert data["flags"][0]["rule"] == 1 and data["points"][-1]["zone"] == 3


def test_doctests_run() -> None:
    result = doctest.testmod(spc)
    assert result.attempted >= 5 and result.failed == 0
