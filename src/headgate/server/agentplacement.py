"""Where a run for agents sends its tasks, and that placement as the run's record keeps it.

The record keeps it from the moment the run is recorded (runs.placement), with the run's
end (a schedule's slot time): a hub that dies before the run's tasks are queued leaves
what the next hub needs to plan and queue the run again (server/agentruns.py: resume).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headgate.project.schedules import ALL_STEPS, STEPS

if TYPE_CHECKING:
    from headgate.runtime.executor import RetryPolicy


@dataclass
class Placement:
    """Where a run's tasks go: labels every task asks for, and per site selection more."""

    labels: dict[str, str] = field(default_factory=dict)
    sites: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (selection, labels)
    max_attempts: int = 3
    full_refresh: bool = False
    includes: frozenset[str] = ALL_STEPS  # the run's steps; agents always check what they build
    policy: RetryPolicy | None = None  # a schedule's retries and timeout (None: the project's)


def kept_placement(placement: Placement, end: datetime | None) -> dict[str, Any]:
    """The placement as the run's record keeps it, with the run's end (a slot's time):
    what planning and queuing the run again needs besides its selection."""
    return {
        "labels": dict(placement.labels),
        "sites": [[expression, dict(labels)] for expression, labels in placement.sites],
        "max_attempts": placement.max_attempts,
        "full_refresh": placement.full_refresh,
        "includes": [step for step in STEPS if step in placement.includes],
        "policy": asdict(placement.policy) if placement.policy is not None else None,
        "end": end.isoformat() if end is not None else None,
    }


def placement_from(kept: dict[str, Any]) -> tuple[Placement, datetime | None]:
    """A placement and the run's end as :func:`kept_placement` kept them."""
    from headgate.runtime.executor import RetryPolicy

    policy = kept.get("policy")
    placement = Placement(
        labels={str(k): str(v) for k, v in kept["labels"].items()},
        sites=[
            (str(expression), {str(k): str(v) for k, v in labels.items()})
            for expression, labels in kept["sites"]
        ],
        max_attempts=int(kept["max_attempts"]),
        full_refresh=bool(kept["full_refresh"]),
        includes=frozenset(str(step) for step in kept["includes"]),
        policy=RetryPolicy(**policy) if policy is not None else None,
    )
    end = datetime.fromisoformat(kept["end"]) if kept.get("end") else None
    return placement, end
