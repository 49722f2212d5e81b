"""The team's measures from a known history: exact DORA and data figures, and the page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from headgate.observe.dashboard import team_metrics
from headgate.state import tables as t
from headgate.state.store import StateStore
from tests.server.hubs import auth, make_project, running_hub


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


COMMITS = {"c1": at(3, 8), "c2": at(9, 10), "c3": at(12, 6), "c4": at(17, 9)}


def deployment(kind: str, commit: str | None, when: datetime) -> dict[str, Any]:
    return {
        "environment": "prod",
        "kind": kind,
        "git_commit": commit,
        "pointers": {},
        "plan": {},
        "created_at": when,
    }


def run(run_id: int, command: str, status: str, ended: datetime, published: bool) -> dict[str, Any]:
    return {
        "id": run_id,
        "environment": "prod",
        "command": command,
        "status": status,
        "published": published,
        "started_at": ended.replace(minute=0),
        "ended_at": ended,
    }


def check(run_id: int, kind: str, severity: str, status: str, when: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "model": "staging.orders",
        "check_name": f"{kind}-{run_id}-{status}",
        "check_type": kind,
        "severity": severity,
        "status": status,
        "message": "",
        "sample": [],
        "created_at": when,
    }


def load(run_id: int, source: str, status: str, rejected: int, when: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "name": source,
        "kind": "source",
        "status": status,
        "fingerprint": "f",
        "detail": {"rejected": rejected},
        "started_at": when,
    }


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    with StateStore.open(None, project_dir=tmp_path) as opened:
        with opened.engine.begin() as conn:
            conn.execute(
                t.deployments.insert(),
                [
                    deployment("deploy", "c1", at(3, 10)),
                    deployment("deploy", "c2", at(10, 10)),
                    deployment("run", "c3", at(12, 12)),
                    deployment("deploy", "c4", at(17, 10)),
                    deployment("rollback", None, at(17, 14)),
                    deployment("deploy", "c5", at(24, 10)),  # a commit git does not know
                    deployment("deploy", "c0", at(1, 10)),  # before the period
                ],
            )
            conn.execute(
                t.runs.insert(),
                [
                    run(1, "run", "failed", at(12, 15, 10), False),
                    run(2, "run", "success", at(12, 18, 10), True),
                    run(3, "test", "failed", at(25, 9), False),
                ],
            )
            conn.execute(
                t.check_results.insert(),
                [
                    check(1, "not_null", "error", "fail", at(12, 15)),  # kept from publishing
                    check(1, "unique", "error", "pass", at(12, 15)),
                    check(2, "range", "warn", "warn", at(12, 18)),  # published with it
                    check(2, "freshness", "error", "pass", at(12, 18)),
                    check(3, "not_null", "error", "fail", at(25, 9)),  # found on published data
                    check(3, "freshness", "error", "fail", at(25, 9)),
                ],
            )
            conn.execute(
                t.tasks.insert(),
                [
                    load(1, "shop.orders", "failed", 0, at(12, 15)),
                    load(2, "shop.orders", "built", 0, at(12, 18)),
                    load(2, "crm.customers", "built", 3, at(12, 18)),
                ],
            )
        yield opened


def test_the_measures_of_a_known_history(store: Any) -> None:
    found = team_metrics(
        store,
        environment="prod",
        since=at(2),
        until=at(30),
        commit_time=COMMITS.get,
        declared={
            "staging.orders": (["id", "amount", "status", "customer"], 3, {"id", "amount"}),
            "marts.revenue": (["customer", "revenue"], 0, set()),
        },
        owners={"staging.orders": "platform", "marts.revenue": "finance"},
    )
    assert found.deployments == 5  # deploys and runs that published; not the rollback
    assert found.deployments_per_week == 1.25  # 5 in 28 days
    assert found.lead_time_hours == 4.0  # median of 2, 24, 6 and 1 hours
    # the run after c3 failed, c4 was rolled back, a test failed after c5
    assert found.change_failure_rate == 0.6
    assert found.time_to_restore_hours == 3.5  # 3 h to the next good run, 4 h to the rollback
    assert found.incidents == 2
    assert (found.checks_run, found.checks_failed) == (6, 3)
    assert (found.caught_before, found.caught_after) == (1, 3)
    assert (found.freshness_checks, found.freshness_met, found.freshness_rate) == (2, 1, 0.5)
    assert [(s.source, s.loads, s.failed, s.rate) for s in found.sources] == [
        ("crm", 1, 1, 1.0),
        ("shop", 2, 1, 0.5),
    ]
    assert [(c.model, c.fraction, c.checks) for c in found.coverage] == [
        ("marts.revenue", 0.0, 0),
        ("staging.orders", 0.5, 3),
    ]
    assert [
        (team.owner, team.models, team.checks_run, team.checks_failed) for team in found.teams
    ] == [
        ("platform", 1, 6, 3),
        ("finance", 1, 0, 0),
    ]
    assert [w.start.day for w in found.weeks] == [2, 9, 16, 23]
    assert [w.deployments for w in found.weeks] == [1, 2, 1, 1]
    assert [w.failed_deployments for w in found.weeks] == [0, 1, 1, 1]
    assert [w.caught_before for w in found.weeks] == [0, 1, 0, 0]
    assert [w.caught_after for w in found.weeks] == [0, 1, 0, 2]


def test_an_environment_without_history_has_no_rates(store: Any) -> None:
    found = team_metrics(
        store, environment="dev", since=at(2), until=at(30), commit_time=COMMITS.get
    )
    assert found.deployments == 0
    assert found.change_failure_rate is None and found.lead_time_hours is None
    assert found.time_to_restore_hours is None and found.freshness_rate is None


def test_the_dashboard_page_shows_the_measures_and_their_definitions(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    with running_hub(root, ui=True) as url:
        page = httpx.get(f"{url}/dashboard", headers=auth(url), timeout=60)
    assert page.status_code == 200, page.text[:2000]
    text = page.text
    for words in (
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Time to restore",
        "caught before publish",
        "Test coverage",
        "Freshness",
    ):
        assert words in text
    assert text.count('<svg class="bars"') == 3  # drawn on the server
    assert 'src="http' not in text and 'href="http' not in text  # nothing from elsewhere
    assert "staging.orders" in text  # coverage per model
    assert "data-platform" in text  # the owner of staging.orders, per team
    assert "cdn" not in text.lower()
