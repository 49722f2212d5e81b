"""The team's own measures, from the hub's records: the four DORA measures and the data's.

Every measure is computed from what the metadata store already holds (runs, deployments,
check results, tasks) over a period, per week, for one environment (production by
default). The definitions, shown on the dashboard page as well:

- **Deployment frequency**: changes published to the environment per week: deploys
  (promotions) and runs that published. Rollbacks and re-creations are not deployments.
- **Lead time for changes**: from a deployed commit's commit time to its deployment; the
  median over the period (deployments without a commit are left out).
- **Change failure rate**: the share of deployments followed by an incident before the next
  deployment: a failed run in the environment, or a rollback.
- **Time to restore**: from an incident's start (the first failed run after a success, or
  the rolled-back deployment) to the environment's next successful run or deployment, or
  the rollback; the median over the incidents restored in the period.
- **Checks run and failed**: check results recorded for runs in the environment.
- **Errors caught before publish**: failing checks of severity error, which kept a build
  from being published (write-audit-publish). **Caught after publish**: warnings on
  builds that were published anyway, and failures of ``headgate test`` on published data.
- **Failure rate per source**: loads of each source that failed or rejected rows, over its
  loads: which data provider sends bad data.
- **Test coverage per model**: the share of a model's columns with at least one check.
- **Freshness SLAs met**: freshness checks that passed, over those run.
- **Per team**: checks run and failed on the models each owner (``owner:``) holds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from headgate.observe.openlineage import database
from headgate.state import tables as t

PUBLISHING = ("deploy", "run")
FAILED_CHECK = ("fail", "error")


@dataclass
class Week:
    """One week's figures (weeks start on Monday, UTC)."""

    start: datetime
    deployments: int = 0
    failed_deployments: int = 0
    checks_run: int = 0
    checks_failed: int = 0
    caught_before: int = 0
    caught_after: int = 0


@dataclass
class SourceFailures:
    source: str
    loads: int
    failed: int  # loads that failed or rejected rows

    @property
    def rate(self) -> float:
        return self.failed / self.loads if self.loads else 0.0


@dataclass
class Coverage:
    model: str
    columns: int
    covered: int  # columns with at least one check
    checks: int  # checks declared on the model and its columns

    @property
    def fraction(self) -> float:
        return self.covered / self.columns if self.columns else 0.0


@dataclass
class TeamChecks:
    """One owner's (team's) models: their checks run and failed in the period."""

    owner: str
    models: int
    checks_run: int = 0
    checks_failed: int = 0

    @property
    def failure_rate(self) -> float:
        return self.checks_failed / self.checks_run if self.checks_run else 0.0


@dataclass
class TeamMetrics:
    environment: str
    since: datetime
    until: datetime
    deployments: int
    deployments_per_week: float
    lead_time_hours: float | None  # median
    change_failure_rate: float | None
    time_to_restore_hours: float | None  # median
    incidents: int
    checks_run: int
    checks_failed: int
    caught_before: int
    caught_after: int
    freshness_checks: int
    freshness_met: int
    weeks: list[Week] = field(default_factory=list)
    sources: list[SourceFailures] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    teams: list[TeamChecks] = field(default_factory=list)

    @property
    def freshness_rate(self) -> float | None:
        return self.freshness_met / self.freshness_checks if self.freshness_checks else None


CommitTime = Callable[[str], datetime | None]


def team_metrics(
    store: Any,
    *,
    environment: str,
    since: datetime,
    until: datetime,
    commit_time: CommitTime,
    declared: dict[str, tuple[list[str], int, set[str]]] | None = None,
    owners: dict[str, str] | None = None,
) -> TeamMetrics:
    """The measures for ``environment`` from ``since`` to ``until``.

    ``commit_time`` gives a commit's time (None when unknown); ``declared`` maps a model
    to (its columns, its checks, the columns with a check), for test coverage; ``owners``
    maps a model to its owner (``owner:`` in its options), for the figures per team.
    """
    db = database(store)
    with db.read() as conn:
        runs = conn.execute(
            select(t.runs.c.id, t.runs.c.command, t.runs.c.status, t.runs.c.published,
                   t.runs.c.started_at, t.runs.c.ended_at)
            .where(t.runs.c.environment == environment)
            .order_by(t.runs.c.started_at)
        ).all()  # fmt: skip
        deploys = conn.execute(
            select(t.deployments.c.kind, t.deployments.c.git_commit, t.deployments.c.created_at)
            .where(t.deployments.c.environment == environment)
            .order_by(t.deployments.c.created_at, t.deployments.c.id)
        ).all()
        run_ids = [r.id for r in runs]
        checks = conn.execute(
            select(t.check_results.c.run_id, t.check_results.c.model,
                   t.check_results.c.check_type,
                   t.check_results.c.severity, t.check_results.c.status,
                   t.check_results.c.created_at)
            .where(t.check_results.c.run_id.in_(run_ids))
        ).all() if run_ids else []  # fmt: skip
        loads = conn.execute(
            select(t.tasks.c.name, t.tasks.c.status, t.tasks.c.detail, t.tasks.c.started_at)
            .where(t.tasks.c.run_id.in_(run_ids), t.tasks.c.kind == "source")
        ).all() if run_ids else []  # fmt: skip
    inside = [d for d in deploys if since <= d.created_at < until]
    published = [d for d in inside if d.kind in PUBLISHING]
    incidents = _incidents(runs, deploys)
    weeks = _weeks(since, until)
    by_week = {w.start: w for w in weeks}
    failed_deploys = 0
    for index, deploy in enumerate(published):
        following = published[index + 1].created_at if index + 1 < len(published) else until
        hit = any(deploy.created_at <= start < following for start, _ in incidents)
        failed_deploys += hit
        week = by_week.get(_week_of(deploy.created_at))
        if week is not None:
            week.deployments += 1
            week.failed_deployments += hit
    lead = [
        (d.created_at - at).total_seconds() / 3600
        for d in published
        if d.git_commit and (at := commit_time(d.git_commit)) is not None and at <= d.created_at
    ]
    restored = [
        (end - start).total_seconds() / 3600
        for start, end in incidents
        if end is not None and since <= end < until
    ]
    by_run = {r.id: r for r in runs}
    tally = _checks(checks, by_run, since, until, by_week)
    days = max((until - since).total_seconds() / 86400, 1.0)
    return TeamMetrics(
        environment=environment,
        since=since,
        until=until,
        deployments=len(published),
        deployments_per_week=round(len(published) * 7 / days, 2),
        lead_time_hours=round(statistics.median(lead), 2) if lead else None,
        change_failure_rate=round(failed_deploys / len(published), 4) if published else None,
        time_to_restore_hours=round(statistics.median(restored), 2) if restored else None,
        incidents=len(restored),
        weeks=weeks,
        sources=_sources(loads, since, until),
        coverage=_coverage(declared or {}),
        teams=_teams(checks, owners or {}, since, until),
        **tally,
    )


def _incidents(
    runs: Sequence[Any], deploys: Sequence[Any]
) -> list[tuple[datetime, datetime | None]]:
    """(start, restored at or None) for every incident: a spell of failed runs, a rollback."""
    found: list[tuple[datetime, datetime | None]] = []
    happenings: list[tuple[datetime, str]] = []
    for run in runs:
        if run.command in ("run", "deploy", "test") and run.status in ("success", "failed"):
            when = run.ended_at or run.started_at
            happenings.append((when, "ok" if run.status == "success" else "failed"))
    for deploy in deploys:
        if deploy.kind == "deploy":
            happenings.append((deploy.created_at, "ok"))
    happenings.sort()
    open_at: datetime | None = None
    for when, what in happenings:
        if what == "failed" and open_at is None:
            open_at = when
        elif what == "ok" and open_at is not None:
            found.append((open_at, when))
            open_at = None
    if open_at is not None:
        found.append((open_at, None))
    previous: datetime | None = None
    for deploy in deploys:
        if deploy.kind == "rollback" and previous is not None:
            found.append((previous, deploy.created_at))
        if deploy.kind in PUBLISHING:
            previous = deploy.created_at
    return found


def _checks(
    checks: Iterable[Any],
    by_run: dict[int, Any],
    since: datetime,
    until: datetime,
    by_week: dict[datetime, Week],
) -> dict[str, int]:
    tally = dict.fromkeys(
        ("checks_run", "checks_failed", "caught_before", "caught_after", "freshness_checks",
         "freshness_met"),
        0,
    )  # fmt: skip
    for check in checks:
        if not since <= check.created_at < until:
            continue
        run = by_run.get(check.run_id)
        if run is None:
            continue
        failed = check.status in FAILED_CHECK
        before = check.status == "fail" and check.severity == "error" and run.command != "test"
        after = (check.status == "warn" and bool(run.published)) or (
            failed and run.command == "test"
        )
        tally["checks_run"] += 1
        tally["checks_failed"] += failed
        tally["caught_before"] += before
        tally["caught_after"] += after
        if check.check_type == "freshness":
            tally["freshness_checks"] += 1
            tally["freshness_met"] += check.status == "pass"
        week = by_week.get(_week_of(check.created_at))
        if week is not None:
            week.checks_run += 1
            week.checks_failed += failed
            week.caught_before += before
            week.caught_after += after
    return tally


def _teams(
    checks: Iterable[Any], owners: dict[str, str], since: datetime, until: datetime
) -> list[TeamChecks]:
    teams: dict[str, TeamChecks] = {}
    for owner in owners.values():
        team = teams.setdefault(owner, TeamChecks(owner, 0))
        team.models += 1
    for check in checks:
        held_by = owners.get(check.model)
        if held_by is None or not since <= check.created_at < until:
            continue
        teams[held_by].checks_run += 1
        teams[held_by].checks_failed += check.status in FAILED_CHECK
    return sorted(teams.values(), key=lambda team: (-team.failure_rate, team.owner))


def _sources(loads: Iterable[Any], since: datetime, until: datetime) -> list[SourceFailures]:
    counts: dict[str, list[int]] = {}
    for name, status, detail, started in loads:
        if started is None or not since <= started < until:
            continue
        source = str(name).split(".", 1)[0]
        rejected = int((detail or {}).get("rejected") or 0)
        slot = counts.setdefault(source, [0, 0])
        slot[0] += 1
        slot[1] += status == "failed" or rejected > 0
    found = [SourceFailures(name, loads, failed) for name, (loads, failed) in counts.items()]
    return sorted(found, key=lambda s: (-s.rate, s.source))


def _coverage(declared: dict[str, tuple[list[str], int, set[str]]]) -> list[Coverage]:
    found = [
        Coverage(model, len(columns), len(set(columns) & covered), checks)
        for model, (columns, checks, covered) in declared.items()
    ]
    return sorted(found, key=lambda c: (c.fraction, c.model))


def _week_of(at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _weeks(since: datetime, until: datetime) -> list[Week]:
    weeks = []
    start = _week_of(since)
    while start < until:
        weeks.append(Week(start))
        start += timedelta(days=7)
    return weeks
