"""Runs that leave steps out (a schedule's ``includes``): what their plan looks like.

Without ingest the sources keep the tables the environment reads now; without build only
the sources load. Publishing, checks and deliveries are the runtime's and the facade's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from headgate.plan.planner import Plan


def refuse_unloaded_sources(plan: Plan) -> None:
    """A run without ingest whose models read a source never loaded: said before it starts."""
    unloaded = {
        n.name for n in plan.nodes.values() if n.kind == "source" and n.action == "excluded"
    }
    for node in plan.work:
        missing = [u for u in node.upstream if u in unloaded]
        if missing:
            raise HeadgateError(
                f"{node.name} reads {missing[0]}, which was never loaded in {plan.environment}, "
                "and this run does not include ingest",
                hint="run it once with ingest (headgate run), or add ingest to the "
                "schedule's includes",
            )


def leave_models_unbuilt(plan: Plan) -> None:
    """A run without build: only sources load (and the steps that feed them run)."""
    feeding = {step for n in plan.nodes.values() if n.kind == "source" for step in n.after}
    for node in plan.nodes.values():
        if node.kind == "source" or node.action == "excluded" or node.name in feeding:
            continue
        node.action, node.reason = "excluded", "not built: the run does not include build"


def leave_unaudited(plan: Plan) -> None:
    """A run without checks audits nothing: tables planned only to be audited are left as
    they are (a run that publishes audits them first)."""
    for node in plan.nodes.values():
        if node.action == "audit":
            node.action, node.reason = "excluded", "not audited: the run does not include checks"
