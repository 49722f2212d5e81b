"""How many tasks an agent keeps in hand follows how long its tasks and calls take."""

from __future__ import annotations

from headgate.runtime.agent_exchange import Pace


def paced(task: float, call: float, *, capacity: int = 1, prefetch: int = 16) -> Pace:
    pace = Pace(capacity, prefetch)
    for _ in range(50):  # long enough for the moving averages to settle
        pace.task_took(task)
        pace.call_took(call)
    return pace


def test_none_is_kept_in_hand_until_a_task_has_ended() -> None:
    pace = Pace(capacity=2, prefetch=16)
    assert pace.keep == 0
    assert pace.running_low(0) and not pace.running_low(1)


def test_short_tasks_keep_six_calls_worth_and_ask_at_three() -> None:
    pace = paced(task=0.010, call=0.020)  # two tasks used up per call
    assert pace.keep == 12
    assert pace.running_low(6) and not pace.running_low(7)


def test_a_slower_hub_makes_larger_batches_up_to_prefetch() -> None:
    quick, slow = paced(task=0.010, call=0.010), paced(task=0.010, call=0.030)
    assert quick.keep < slow.keep
    assert paced(task=0.010, call=1.0).keep == 16  # never more than --prefetch
    assert paced(task=0.010, call=1.0, prefetch=4).keep == 4


def test_more_slots_keep_more() -> None:
    assert paced(task=0.010, call=0.010).keep == 6
    assert paced(task=0.010, call=0.010, capacity=2).keep == 12


def test_tasks_much_longer_than_a_call_keep_none() -> None:
    pace = paced(task=60.0, call=0.020)
    assert pace.keep == 0
    assert pace.running_low(0)  # a slot that is free asks at once
    assert paced(task=0.3, call=0.020).keep == 0  # fifteen calls long: none either
    assert paced(task=0.08, call=0.020).keep == 1  # four calls long: one in hand
