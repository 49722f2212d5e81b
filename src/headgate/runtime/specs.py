"""A run's plan as data: task specs the metadata store keeps and any process can carry out.

A spec says what a task does (load a source, build a model, grow a version, audit a
table), with which inputs and fingerprints, under which name: everything the runtime
needs, nothing that lives only in the process that planned it. The hub, the scheduler
and agents in other sites read the same specs the command line writes.

>>> from datetime import UTC, datetime
>>> node = PlannedNode("m.x", "model", "table", "ab12", "hp.m__x__ab12", ["m.y"], "build", "new")
>>> node_from_spec(node_to_spec(node)) == node
True
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from headgate.plan.planner import Plan, PlannedNode
from headgate.plan.versions import Growth, Segment, Version
from headgate.project.schedules import STEPS
from headgate.runtime.executor import RetryPolicy

SPEC_VERSION = 1


def plan_to_spec(plan: Plan) -> dict[str, Any]:
    """What the run as a whole needs besides its tasks."""
    return {
        "version": SPEC_VERSION,
        "environment": plan.environment,
        "end": plan.end.isoformat(),
        "selection": plan.selection,
        "removed": list(plan.removed),
        "order": list(plan.nodes),
        **_run_options(plan),
    }


def _run_options(plan: Plan) -> dict[str, Any]:
    """The steps the run includes and how its tasks are tried, when the plan says."""
    found: dict[str, Any] = {}
    if plan.includes is not None:
        found["includes"] = [s for s in STEPS if s in plan.includes]
    if plan.policy is not None:
        policy = plan.policy
        found["policy"] = {
            "attempts": policy.attempts,
            "backoff": policy.backoff,
            "timeout": policy.timeout,
        }
    return found


def _policy_from(data: dict[str, Any] | None) -> RetryPolicy | None:
    if not data:
        return None
    timeout = data.get("timeout")
    return RetryPolicy(
        attempts=int(data.get("attempts", 1)),
        backoff=float(data.get("backoff", 1.0)),
        timeout=float(timeout) if timeout is not None else None,
    )


def plan_from_spec(data: dict[str, Any], nodes: dict[str, PlannedNode]) -> Plan:
    ordered = {name: nodes[name] for name in data["order"] if name in nodes}
    return Plan(
        environment=str(data["environment"]),
        nodes=ordered,
        removed=list(data.get("removed") or []),
        end=datetime.fromisoformat(str(data["end"])),
        selection=data.get("selection"),
        includes=frozenset(data["includes"]) if data.get("includes") is not None else None,
        policy=_policy_from(data.get("policy")),
    )


def node_to_spec(node: PlannedNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "kind": node.kind,
        "materialized": node.materialized,
        "fingerprint": node.fingerprint,
        "physical_table": node.physical_table,
        "upstream": list(node.upstream),
        "action": node.action,
        "reason": node.reason,
        "exists": node.exists,
        "ranges": [[s.isoformat(), e.isoformat()] for s, e in node.ranges],
        "restate": [t.isoformat() for t in node.restate] if node.restate else None,
        "replace": node.replace,
        "force": node.force,
        "missing_upstream": list(node.missing_upstream),
        "base_table": node.base_table,
        "versioned": node.versioned,
        "may_change": node.may_change,
        "growth": _growth_to_spec(node.growth) if node.growth is not None else None,
        "version": _version_to_spec(node.version) if node.version is not None else None,
        "query": node.query,
        "references": list(node.references),
        **({"after": list(node.after)} if node.after else {}),
        **({"step": node.step} if node.step is not None else {}),
    }


def node_from_spec(data: dict[str, Any]) -> PlannedNode:
    restate = data.get("restate")
    return PlannedNode(
        name=str(data["name"]),
        kind=str(data["kind"]),
        materialized=str(data["materialized"]),
        fingerprint=str(data["fingerprint"]),
        physical_table=str(data["physical_table"]),
        upstream=[str(u) for u in data["upstream"]],
        action=data["action"],
        reason=str(data["reason"]),
        exists=bool(data.get("exists")),
        ranges=[_range(r) for r in data.get("ranges") or []],
        restate=_range(restate) if restate else None,
        replace=bool(data.get("replace")),
        force=bool(data.get("force")),
        missing_upstream=[str(u) for u in data.get("missing_upstream") or []],
        base_table=str(data.get("base_table") or ""),
        versioned=bool(data.get("versioned")),
        may_change=bool(data.get("may_change")),
        growth=_growth_from_spec(data["growth"]) if data.get("growth") else None,
        version=_version_from_spec(data["version"]) if data.get("version") else None,
        query=data.get("query"),
        references=[str(r) for r in data.get("references") or []],
        after=[str(a) for a in data.get("after") or []],
        step=data.get("step"),
    )


def _range(pair: list[str]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(pair[0]), datetime.fromisoformat(pair[1])


def _growth_to_spec(growth: Growth) -> dict[str, Any]:
    return {
        "mode": growth.mode,
        "base_segments": [s.to_json() for s in growth.base_segments],
        "ranges": [[s.isoformat(), e.isoformat()] for s, e in growth.ranges],
        "new_layer": growth.new_layer,
        "keys": list(growth.keys),
        "time_column": growth.time_column,
        "nonce": growth.nonce,
    }


def _growth_from_spec(data: dict[str, Any]) -> Growth:
    return Growth(
        mode=data["mode"],
        base_segments=[Segment.from_json(s) for s in data.get("base_segments") or []],
        ranges=[_range(r) for r in data.get("ranges") or []],
        new_layer=bool(data.get("new_layer")),
        keys=tuple(data.get("keys") or ()),
        time_column=data.get("time_column"),
        nonce=data.get("nonce"),
    )


def _version_to_spec(version: Version) -> dict[str, Any]:
    return {
        "mode": version.mode,
        "segments": version.to_json(),
        "keys": list(version.keys),
        "time_column": version.time_column,
    }


def _version_from_spec(data: dict[str, Any]) -> Version:
    return Version(
        mode=data["mode"],
        segments=[Segment.from_json(s) for s in data.get("segments") or []],
        keys=tuple(data.get("keys") or ()),
        time_column=data.get("time_column"),
    )
