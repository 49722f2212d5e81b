"""What each task of a run waits for, wherever it runs: this process or an agent.

A task waits for its upstream, for the steps that feed it (and a step for the models it
reads), and for the models its checks read that the run also builds: a relationships
or custom SQL check must read the tables the run will publish with it. The run service
(runtime/run.py) and the agents' queue (server/agentruns.py) both order tasks by this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headgate.plan.planner import Plan, PlannedNode
    from headgate.project.loader import LoadedProject
    from headgate.runtime.audit import ProjectChecks


def task_waits(
    project: LoadedProject, plan: Plan, checks: ProjectChecks | None, node: PlannedNode
) -> list[str]:
    """The tasks ``node`` waits for (names in the plan; not only the run's work).

    A check never waits for what reads ``node`` (a cycle: such a check reads the other
    model's published version); of two models whose checks read each other, the later
    in DAG order waits.
    """
    waits = [*node.upstream, *node.after]
    if checks is None or node.kind != "model":
        return waits
    downstream = project.dag.descendants({node.name})
    order = project.dag.order
    for other in checks.reads(node.name):
        planned = plan.nodes.get(other)
        if planned is None or not planned.is_work or other in downstream:
            continue
        mutual = node.name in checks.reads(other)
        if not mutual or order.index(other) < order.index(node.name):
            waits.append(other)
    return waits
