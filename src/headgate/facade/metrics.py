"""The team's measures (DORA and the data's) and the hub's Prometheus metrics."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from headgate.facade.base import ProjectBase

if TYPE_CHECKING:
    from headgate.observe.dashboard import TeamMetrics


class Measuring(ProjectBase):
    def team_metrics(
        self, environment: str | None = None, *, days: int = 90, now: datetime | None = None
    ) -> TeamMetrics:
        """Deployment frequency, lead time, change failure rate, time to restore, checks,
        errors caught before and after publish, failures per source, test coverage and
        freshness for ``environment`` (default: the project's) over the last ``days``."""
        from headgate.observe.dashboard import team_metrics

        until = now or datetime.now(UTC)
        return team_metrics(
            self.state,
            environment=environment or self.outline.default_environment,
            since=until - timedelta(days=days),
            until=until,
            commit_time=_commit_times(str(self.root)),
            declared=self._declared_checks(),
            owners={
                name: model.options.owner
                for name, model in self.loaded.models.items()
                if model.options.owner
            },
        )

    def _declared_checks(self) -> dict[str, tuple[list[str], int, set[str]]]:
        from sqlalchemy import select

        from headgate.observe.openlineage import database
        from headgate.state.tables import model_versions

        columns: dict[str, list[str]] = {}
        with database(self.state).read() as conn:
            rows = conn.execute(
                select(model_versions.c.model, model_versions.c.columns).order_by(
                    model_versions.c.created_at
                )
            )
            for model, cols in rows:
                columns[model] = [str(c[0]) for c in cols or []]
        declared = {}
        for name, model in self.loaded.models.items():
            options = model.options
            covered = {c for c, o in options.columns.items() if o.checks}
            checks = len(options.checks) + sum(len(o.checks) for o in options.columns.values())
            known = columns.get(name) or sorted(options.columns)
            declared[name] = (known, checks, covered)
        return declared


def _commit_times(root: str) -> Callable[[str], datetime | None]:
    @cache
    def commit_time(sha: str) -> datetime | None:
        try:
            done = subprocess.run(
                ["git", "show", "-s", "--format=%cI", sha],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode != 0 or not done.stdout.strip():
            return None
        return datetime.fromisoformat(done.stdout.strip()).astimezone(UTC)

    return commit_time
