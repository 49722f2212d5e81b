"""Deploying one environment's exact tables into another, rolling back, and cleaning up.

A deployment copies pointers, never data: the tables promoted are the very ones that
were built and audited in the source environment, so what was tested is what ships.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Engine
from headgate.errors import HeadgateError
from headgate.plan.environments import (
    Actor,
    PointerChange,
    Pointers,
    apply_pointers,
    current_pointers,
)

if TYPE_CHECKING:
    from headgate.state.store import StateStore


class DeployRefused(HeadgateError):
    """A deployment the gate stopped: checks missing or failed, or the target moved."""


def state_hash(pointers: Pointers) -> str:
    """A short hash of what an environment publishes; a plan carries it so deploy can see a change."""
    payload = json.dumps(sorted((m, p[1]) for m, p in pointers.items()))
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


@dataclass
class DeployResult:
    source: str
    target: str
    change: PointerChange
    models: list[dict[str, Any]] = field(default_factory=list)


def deploy(
    engine: Engine,
    store: StateStore,
    *,
    source: str,
    target: str,
    check_hashes: dict[str, str],
    actor: Actor,
    expect_state: str | None = None,
) -> DeployResult:
    """Make ``target`` publish what ``source`` publishes, if every table passed its checks."""
    if source == target:
        raise HeadgateError("deploy needs two different environments")
    wanted = current_pointers(store, source)
    if not wanted:
        raise HeadgateError(
            f"environment {source} publishes nothing", hint=f"build it: headgate run --env {source}"
        )
    _gate(store, source, wanted, check_hashes)
    before = current_pointers(store, target)
    if expect_state is not None and state_hash(before) != expect_state:
        raise DeployRefused(
            f"{target} changed since the plan was made",
            hint=f"make the plan again: headgate plan --env {target}",
        )
    models = _differences(before, wanted)
    change = apply_pointers(
        engine,
        store,
        target,
        wanted,
        kind="deploy",
        actor=actor,
        from_environment=source,
        plan={"models": models, "before": state_hash(before)},
    )
    return DeployResult(source, target, change, models)


def _gate(store: StateStore, source: str, wanted: Pointers, check_hashes: dict[str, str]) -> None:
    registry = store.physical_tables()
    unchecked, failed = [], []
    for model, (_, physical) in sorted(wanted.items()):
        expected = check_hashes.get(model)
        record = registry.get(physical)
        if record is not None and record.audit_status == "failed":
            failed.append(model)
        elif expected is not None and (record is None or record.audit_hash != expected):
            unchecked.append(model)
    if failed:
        raise DeployRefused(
            f"{len(failed)} model(s) in {source} failed their checks: {', '.join(failed[:5])}",
            hint=f"see headgate runs --env {source}; fix the data or the checks, then run {source} again",
        )
    if unchecked:
        raise DeployRefused(
            f"the current checks have not run on {len(unchecked)} model(s) in {source}: {', '.join(unchecked[:5])}",
            hint=f"run them first: headgate test --env {source}",
        )


def _differences(before: Pointers, after: Pointers) -> list[dict[str, Any]]:
    changes = []
    for model in sorted(set(before) | set(after)):
        old, new = before.get(model), after.get(model)
        if old == new:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        changes.append(
            {
                "name": model,
                "change": kind,
                "from": old[0] if old else None,
                "to": new[0] if new else None,
            }
        )
    return changes


def rollback(
    engine: Engine, store: StateStore, environment: str, *, to: int | None, actor: Actor
) -> tuple[int, PointerChange]:
    """Publish again what an earlier deployment published (default: the one before the latest)."""
    history = store.deployments(environment=environment, limit=2)
    if to is None:
        if len(history) < 2:
            raise HeadgateError(f"{environment} has no earlier deployment to roll back to")
        earlier = history[1]
    else:
        found = store.get_deployment(to)
        if found is None or found.environment != environment:
            raise HeadgateError(
                f"no deployment {to} of {environment}",
                hint=f"list them: headgate deployments --env {environment}",
            )
        earlier = found
    assert earlier.id is not None
    target = {m: (p[0], p[1]) for m, p in earlier.pointers.items()}
    existing: set[str] = set()
    for schema in {p.rsplit(".", 1)[0] for _, p in target.values()}:  # one catalog query per schema
        existing |= engine.existing_tables(schema)
    missing = sorted(p for _, p in target.values() if p not in existing)
    if missing:
        raise HeadgateError(
            f"deployment {earlier.id} needs {len(missing)} table(s) that no longer exist, e.g. {missing[0]}",
            hint="the janitor dropped them after the retention period",
        )
    change = apply_pointers(
        engine,
        store,
        environment,
        target,
        kind="rollback",
        actor=actor,
        rolled_back_to=earlier.id,
        always_record=True,
    )
    return earlier.id, change


@dataclass
class JanitorResult:
    dropped: list[str]
    kept: int
    bytes_before: int
    bytes_after: int

    @property
    def freed(self) -> int:
        return max(self.bytes_before - self.bytes_after, 0)


def janitor(
    engine: Engine,
    store: StateStore,
    *,
    physical_schema: str,
    retention_days: float,
    dry_run: bool = False,
) -> JanitorResult:
    """Drop physical tables no environment and no deployment within the retention points at."""
    keep = {
        p.physical_table
        for env in store.list_environments()
        for p in store.env_models(env.name).values()
    }
    since = datetime.now(UTC) - timedelta(days=retention_days)
    for record in store.deployments(limit=1_000_000, since=since):
        keep.update(pointer[1] for pointer in record.pointers.values())
    registry = store.physical_tables()
    for name in list(keep):  # what a kept view reads (a file source's per-file tables) stays too
        physical = registry.get(name)
        if physical is not None and physical.kind == "source":
            keep.update(physical.inputs)
        if physical is not None and physical.segments:  # a version's segments
            keep.update(str(segment["table"]) for segment in physical.segments)
    keep.update({f"{name}__rejects" for name in keep})
    existing = engine.existing_tables(physical_schema)
    doomed = sorted(name for name in existing if name not in keep)
    before = engine.storage_bytes()
    if not dry_run and doomed:
        engine.drop_relations(doomed)
        store.drop_physical(doomed)
    return JanitorResult(
        doomed, len(existing) - len(doomed), before, before if dry_run else engine.storage_bytes()
    )
