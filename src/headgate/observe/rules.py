"""Rules: conditions on a journey's or component's events and alerts, and what to do.

A rule is evaluated for a component on every signal that concerns one of its conditions
(an event, or a built-in alert opening or resolving). It *fires* when any (or all) of its
conditions hold; firing raises an alert of its own, grouped under an upstream one when the
same rule already fires upstream (one alert per root cause). While it keeps firing, it
reminds at most once per ``suppress_for``; when it stops firing, its alert resolves and
a "resolved" notice goes out. Notices are queued (:mod:`headgate.observe.notices`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from headgate.observe import alerts as alerting
from headgate.observe.alerts import AlertChange
from headgate.observe.config import Condition, RuleConfig
from headgate.observe.events import END_STATUSES, Event
from headgate.observe.ingest import database
from headgate.state import tables as t
from headgate.state.sqltypes import now

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}


@dataclass
class Signal:
    """What a rule is evaluated on: an event, or a built-in alert's change."""

    component: str
    at: datetime
    event: Event | None = None
    alert: AlertChange | None = None


@dataclass
class Scope:
    """Where components belong and what is upstream of what."""

    journeys_of: dict[str, set[str]]
    upstream: dict[str, set[str]]


def in_scope(rule: RuleConfig, component: str, scope: Scope) -> bool:
    if rule.component and rule.component != component:
        return False
    return not rule.journey or rule.journey in scope.journeys_of.get(component, set())


def truth(condition: Condition, signal: Signal, store: Any) -> bool | None:
    """Whether ``condition`` holds after ``signal``; None when the signal does not concern it."""
    if signal.alert is not None:
        if condition.alert is None or signal.alert.alert.kind not in condition.alert.types:
            return None
        return signal.alert.change != "resolved"
    event = signal.event
    if event is None or condition.alert is not None:
        return None
    return _event_truth(condition, event, store)


def _event_truth(condition: Condition, event: Event, store: Any) -> bool | None:
    run_level = event.kind == "run-status" and event.task_key is None
    succeeded = run_level and event.status == "COMPLETED"
    if condition.run_state is not None:
        if not run_level:
            return None
        wanted = condition.run_state.matches
        if event.status not in END_STATUSES:
            return True if event.status in wanted else None
        return _consecutive(store, event.component, wanted, condition.run_state.count)
    if condition.task_state is not None:
        if succeeded:
            return False
        if event.kind != "run-status" or event.task_key is None:
            return None
        return event.status in condition.task_state.matches
    if condition.test_status is not None:
        if event.kind != "test-outcomes":
            return False if succeeded else None
        statuses = {o.get("status") for o in event.body.get("test_outcomes", [])}
        return bool(statuses & set(condition.test_status.matches))
    if condition.metric is not None:
        if event.kind != "metric-log" or event.body.get("metric_key") != condition.metric.key:
            return None
        value = float(event.body.get("metric_value", 0.0))
        return OPERATORS[condition.metric.operator](value, condition.metric.value)
    if condition.message is not None:
        if succeeded:
            return False
        if event.kind != "message-log":
            return None
        levels = condition.message.level
        if levels and event.body.get("log_level") not in levels:
            return None
        return re.search(condition.message.matches, str(event.body.get("message", ""))) is not None
    return None


def _consecutive(store: Any, component: str, wanted: Sequence[str], count: int) -> bool:
    """Whether the component's last ``count`` ended runs all have a wanted status."""
    query = (
        select(t.component_runs.c.status)
        .where(
            t.component_runs.c.component == component,
            t.component_runs.c.status.in_(END_STATUSES),
        )
        .order_by(t.component_runs.c.ended_at.desc(), t.component_runs.c.id.desc())
        .limit(count)
    )
    with database(store).read() as conn:
        statuses = [r[0] for r in conn.execute(query).all()]
    return len(statuses) == count and all(s in wanted for s in statuses)


@dataclass
class RuleState:
    firing: bool
    conditions: list[bool | None]
    notified_at: datetime | None
    alert_id: int | None


def _state(store: Any, rule: RuleConfig, component: str) -> RuleState:
    with database(store).read() as conn:
        row = conn.execute(
            select(t.rule_states).where(
                t.rule_states.c.rule == rule.name, t.rule_states.c.component == component
            )
        ).first()
    if row is None or len(row.conditions) != len(rule.conditions):
        return RuleState(False, [None] * len(rule.conditions), None, None)
    return RuleState(row.firing, list(row.conditions), row.notified_at, row.alert_id)


def _save(store: Any, rule: RuleConfig, component: str, state: RuleState) -> None:
    db = database(store)
    row = {
        "rule": rule.name,
        "component": component,
        "alert_id": state.alert_id,
        "firing": state.firing,
        "conditions": state.conditions,
        "notified_at": state.notified_at,
        "updated_at": now(),
    }
    with db.write("keeping a rule's state") as conn:
        db.upsert(conn, t.rule_states, ["rule", "component"], [row])


@dataclass
class Notice:
    """A notice to queue: which alert, which rule, and why."""

    alert_id: int
    rule: RuleConfig
    kind: str  # alert | reminder | resolved


def apply(
    store: Any, rules: list[RuleConfig], signal: Signal, scope: Scope, clock: datetime
) -> list[Notice]:
    """Evaluate every rule in scope on ``signal``; the notices to send."""
    notices: list[Notice] = []
    for rule in rules:
        if not in_scope(rule, signal.component, scope):
            continue
        truths = [truth(c, signal, store) for c in rule.conditions]
        if all(v is None for v in truths):
            continue
        state = _state(store, rule, signal.component)
        state.conditions = [
            new if new is not None else old
            for new, old in zip(truths, state.conditions, strict=True)
        ]
        held = [bool(v) for v in state.conditions]
        fires = any(held) if rule.when == "any" else all(held)
        matched_now = any(v for v in truths)
        if fires and matched_now:
            notices += _fire(store, rule, signal, scope, state, clock)
        elif not fires and state.firing:
            notices += _settle(store, rule, signal, state)
        _save(store, rule, signal.component, state)
    return notices


def _fire(
    store: Any, rule: RuleConfig, signal: Signal, scope: Scope, state: RuleState, clock: datetime
) -> list[Notice]:
    change = alerting.raise_alert(
        store,
        component=signal.component,
        kind="rule",
        rule=rule.name,
        message=describe(signal),
        at=signal.at,
        upstream=scope.upstream,
        level="error",
        run_key=signal.event.run_key if signal.event else None,
    )
    state.firing, state.alert_id = True, change.alert.id
    if change.alert.root_id is not None:
        return []  # grouped under its root cause: the root's notice speaks for it
    if change.change == "opened":
        state.notified_at = clock
        return [Notice(change.alert.id, rule, "alert")]
    due = state.notified_at is None or clock - state.notified_at >= timedelta(
        seconds=rule.suppress_for
    )
    if due:
        state.notified_at = clock
        return [Notice(change.alert.id, rule, "reminder")]
    return []


def _settle(store: Any, rule: RuleConfig, signal: Signal, state: RuleState) -> list[Notice]:
    resolved = alerting.resolve_alerts(
        store, component=signal.component, kinds=("rule",), rule=rule.name, at=signal.at
    )
    state.firing = False
    _quiet_grouped(store, rule, [c.alert.component for c in resolved])
    roots = [c for c in resolved if c.alert.root_id is None]
    if not rule.notify_resolved:
        return []
    return [Notice(c.alert.id, rule, "resolved") for c in roots]


def _quiet_grouped(store: Any, rule: RuleConfig, components: list[str]) -> None:
    """Grouped alerts resolved with their root: their components' states stop firing."""
    for component in components:
        state = _state(store, rule, component)
        if state.firing:
            state.firing = False
            state.conditions = [None] * len(rule.conditions)
            _save(store, rule, component, state)


def describe(signal: Signal) -> str:
    """A one-line account of what happened."""
    if signal.alert is not None:
        return signal.alert.alert.message
    event = signal.event
    assert event is not None
    body = event.body
    if event.kind == "run-status":
        what = (
            f"task {event.task_key} of run {event.run_key}"
            if event.task_key
            else f"run {event.run_key}"
        )
        return f"{event.component}: {what} is {event.status}"
    if event.kind == "test-outcomes":
        failing = [o["name"] for o in body.get("test_outcomes", []) if o.get("status") != "PASSED"]
        return f"{event.component}: tests {', '.join(failing) or 'passed'}"
    if event.kind == "metric-log":
        return f"{event.component}: {body.get('metric_key')} = {body.get('metric_value')}"
    if event.kind == "message-log":
        return f"{event.component}: {body.get('log_level')} {body.get('message')}"
    return f"{event.component}: {body.get('operation')} {body.get('path') or ''}".strip()
