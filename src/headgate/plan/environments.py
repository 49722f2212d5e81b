"""Environments as sets of pointers, and every change to them: publish, create, deploy, roll back.

An environment is a view per model over a physical table. Changing what it
publishes is always the same act: compute the new pointer set, swap the views
that differ in one transaction, store the pointers, and append the whole set to
the deployment history so any earlier state can be returned to in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headgate.engines.base import Engine, ViewSpec
from headgate.errors import HeadgateError
from headgate.faults import step
from headgate.plan.naming import PRODUCTION, valid_environment, view_name
from headgate.state.records import DeploymentRecord, EnvModel

if TYPE_CHECKING:
    from headgate.state.store import StateStore

Pointers = dict[str, tuple[str, str]]  # model -> (fingerprint, physical table)


@dataclass
class PointerChange:
    environment: str
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    deployment_id: int | None = None

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.removed)


@dataclass
class Actor:
    """Who changes an environment, and from which commit: kept in the history."""

    user: str | None = None
    git_commit: str | None = None


def current_pointers(store: StateStore, environment: str) -> Pointers:
    return {m: (p.fingerprint, p.physical_table) for m, p in store.env_models(environment).items()}


def apply_pointers(
    engine: Engine,
    store: StateStore,
    environment: str,
    target: Pointers,
    *,
    kind: str,
    actor: Actor,
    run_id: int | None = None,
    from_environment: str | None = None,
    plan: dict[str, Any] | None = None,
    rolled_back_to: int | None = None,
    always_record: bool = False,
) -> PointerChange:
    """Make ``environment`` publish exactly ``target``; one view swap, one history entry."""
    current = store.env_models(environment)
    changes = [
        EnvModel(environment, model, fingerprint, physical, run_id=run_id)
        for model, (fingerprint, physical) in sorted(target.items())
        if model not in current or current[model].physical_table != physical
    ]
    removed = sorted(set(current) - set(target))
    result = PointerChange(environment, [c.model for c in changes], removed)
    if not changes and not removed and not always_record:
        return result
    prefix = engine.schema_prefix
    views = [ViewSpec(view_name(c.model, environment, prefix), c.physical_table) for c in changes]
    record = DeploymentRecord(
        environment=environment,
        kind=kind,
        pointers={m: [fp, phys] for m, (fp, phys) in sorted(target.items())},
        from_environment=from_environment,
        username=actor.user,
        git_commit=actor.git_commit,
        run_id=run_id,
        rolled_back_to=rolled_back_to,
        plan=plan or {},
        state="pending",
    )
    # Two steps over two databases, made safe by the warehouse's ledger: the store first
    # records the change as pending, the warehouse swaps the views and writes the ledger
    # in one transaction, then the store takes the pointers. A process killed between the
    # two is completed by the next one to open the warehouse (see ``reconcile``).
    deployment_id = store.record_deployment(record)
    step("publish: pending")
    engine.publish_views(
        views, [view_name(name, environment, prefix) for name in removed], publish_id=deployment_id
    )
    step("publish: views swapped")
    store.complete_deployment(deployment_id, environment, changes, removed, run_id)
    step("publish: recorded")
    result.deployment_id = deployment_id
    return result


def reconcile(engine: Engine, store: StateStore) -> list[int]:
    """Finish the publishes the warehouse committed but the store never heard of; their ids.

    Publishes still pending that the warehouse has no trace of are left alone: they either
    are under way in another process, or never happened (and never will: their views were
    not swapped, so nobody reads them).
    """
    pending = store.pending_deployments()
    if not pending:
        return []
    done = engine.published([p.id for p in pending if p.id is not None])
    finished = []
    for record in pending:
        if record.id not in done:
            continue
        current = store.env_models(record.environment)
        changes = [
            EnvModel(record.environment, model, fingerprint, physical, run_id=record.run_id)
            for model, (fingerprint, physical) in sorted(record.pointers.items())
            if model not in current or current[model].physical_table != physical
        ]
        removed = sorted(set(current) - set(record.pointers))
        store.complete_deployment(record.id, record.environment, changes, removed, record.run_id)
        finished.append(record.id)
    return finished


def create_environment(
    engine: Engine, store: StateStore, name: str, *, source: str, actor: Actor
) -> PointerChange:
    """A new environment publishing what ``source`` publishes: pointers copied, no data."""
    _require_valid(name)
    if any(e.name == name for e in store.list_environments()):
        raise HeadgateError(
            f"environment {name} already exists",
            hint=f"delete it first: headgate env delete {name}",
        )
    pointers = current_pointers(store, source)
    if not pointers and source != PRODUCTION:
        raise HeadgateError(f"environment {source} does not exist or publishes nothing")
    store.ensure_environment(name, created_by=actor.user, from_environment=source)
    return apply_pointers(
        engine,
        store,
        name,
        pointers,
        kind="create",
        actor=actor,
        from_environment=source,
        always_record=True,
    )


def delete_environment(engine: Engine, store: StateStore, name: str) -> int:
    """Drop the environment's views and its record; the physical tables stay for the janitor."""
    if name == PRODUCTION:
        raise HeadgateError(
            "prod cannot be deleted", hint="roll it back instead: headgate rollback prod"
        )
    pointers = store.env_models(name)
    if not pointers and not any(e.name == name for e in store.list_environments()):
        raise HeadgateError(
            f"no environment named {name}", hint="list them with: headgate env list"
        )
    engine.publish_views([], [view_name(model, name, engine.schema_prefix) for model in pointers])
    store.delete_environment(name)
    return len(pointers)


def _require_valid(name: str) -> None:
    if not valid_environment(name):
        raise HeadgateError(
            f"'{name}' is not a valid environment name",
            hint="start with a letter; use letters, digits, '-' or '_' (at most 63)",
        )
