"""``headgate.Project``: the one facade the CLI and the server wrap.

Each method is one thing a user does (plan, run, query, test, deploy, ...); it
opens the warehouse and the metadata store for as long as it needs them and
reports through the injected :class:`~headgate.console.Console`.
"""

from __future__ import annotations

from headgate.facade.building import Building
from headgate.facade.environments import Environments
from headgate.facade.governance import Governance
from headgate.facade.metrics import Measuring
from headgate.facade.observing import Observing
from headgate.facade.quality import Quality
from headgate.facade.reading import EnvironmentStatus, ModelStatus, Reading
from headgate.facade.scheduling import Scheduling

__all__ = ["EnvironmentStatus", "ModelStatus", "Project"]


class Project(
    Building, Reading, Quality, Environments, Scheduling, Governance, Observing, Measuring
):
    """A loaded project and the operations on it."""
