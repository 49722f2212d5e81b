"""The hub's door: tokens revoked at once, cookies that need their CSRF token and the
hub's own Origin, work recorded under the name of whoever asked for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headgate import Project
from tests.server.hubs import ADMIN, ADMIN_PASSWORD, Served, make_project, serving

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = make_project(tmp_path_factory.mktemp("door") / "shop")
    with Project.load(root) as project:
        project.add_user("dora", None, roles=[("developer", "dev-*"), ("viewer", "*")])
    with serving(root, ui=True) as served:
        yield served


def token_for(served: Served, user: str, roles: list[str]) -> str:
    with Project.load(served.hub.root) as project:
        return project.create_token(f"t-{len(project.tokens())}", roles, owner=user)


def signed_in(served: Served) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the session's CSRF token."""
    client = httpx.Client(base_url=served.url, timeout=60)
    answer = client.post("/signin", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert answer.status_code == 303 and "headgate_session" in client.cookies
    page = client.get("/tokens").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    return client, csrf


def test_a_revoked_token_is_refused_at_once_and_a_bad_one_never_falls_back(hub: Served) -> None:
    value = token_for(hub, "dora", ["viewer"])
    headers = {"Authorization": f"Bearer {value}"}
    assert httpx.get(f"{hub.url}/api/v1/project", headers=headers).status_code == 200
    with Project.load(hub.hub.root) as project:
        project.revoke_token(project.tokens("dora")[-1].id)
    refused = httpx.get(f"{hub.url}/api/v1/project", headers=headers)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{hub.url}/api/v1/project").status_code == 401
    client, _ = signed_in(hub)
    try:  # a cookie does not rescue a wrong token
        assert (
            client.get("/api/v1/project", headers={"Authorization": "Bearer x"}).status_code == 401
        )
        assert client.get("/api/v1/project").status_code == 200
    finally:
        client.close()


def test_a_change_made_with_the_cookie_needs_its_csrf_token_and_the_hub_s_origin(
    hub: Served,
) -> None:
    client, csrf = signed_in(hub)
    body: dict[str, Any] = {"name": "dev-cookie", "from": "prod"}
    try:
        assert client.post("/api/v1/environments", json=body).status_code == 403
        wrong = client.post("/api/v1/environments", json=body, headers={"X-CSRF-Token": "x" * 43})
        assert wrong.status_code == 403
        elsewhere = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        assert client.post("/api/v1/environments", json=body, headers=elsewhere).status_code == 403
        made = client.post(
            "/api/v1/environments", json=body, headers={"X-CSRF-Token": csrf, "Origin": hub.url}
        )
        assert made.status_code == 201, made.text
        client.post("/signout", data={"csrf": csrf})
        assert client.get("/api/v1/project").status_code == 401  # the session ended
    finally:
        client.close()


def test_work_is_done_with_the_asker_s_rights_and_recorded_under_their_name(hub: Served) -> None:
    value = token_for(hub, "dora", ["developer", "viewer"])
    api = httpx.Client(
        base_url=f"{hub.url}/api/v1", headers={"Authorization": f"Bearer {value}"}, timeout=60
    )
    with api:
        assert (
            api.post("/environments", json={"name": "dev-dora", "from": "prod"}).status_code == 201
        )
        run = api.post("/runs", json={"environment": "dev-dora"}).json()
        assert api.get(f"/runs/{run['run_id']}").json()["user"].startswith("dora:")
        refused = api.post("/runs", json={"environment": "prod"})
        assert refused.status_code == 403 and "prod is protected" in refused.json()["detail"]
        assert api.post("/environments", json={"name": "test", "from": "prod"}).status_code == 403
        assert api.delete("/environments/prod").status_code == 403
        _until_finished(api, run["run_id"])  # its start is audited once it leaves the queue
    with Project.load(hub.hub.root) as project:
        mine = project.audit_log(person="dora")
        assert {e.action for e in mine} >= {"env.create", "run.start"}
        assert all(e.address == "127.0.0.1" for e in mine if e.action == "env.create")
        assert all(
            r.environment != "prod" or not (r.user or "").startswith("dora")
            for r in project.runs(limit=50)
        )


def _until_finished(api: httpx.Client, run_id: int) -> None:
    deadline = time.monotonic() + 120  # only stops a hang
    while api.get(f"/runs/{run_id}").json()["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"run {run_id} did not finish"
        time.sleep(0.1)


def test_a_schedule_is_triggered_with_the_rights_in_its_own_environment(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = make_project(tmp_path_factory.mktemp("sched") / "shop")
    with (root / "headgate.yml").open("a") as config:
        config.write(
            "\nschedules:\n"
            "  - {name: nightly_dev, cron: '0 2 * * *', environment: dev}\n"
            "  - {name: nightly_prod, cron: '0 3 * * *', environment: prod}\n"
        )
    with Project.load(root) as project:
        project.env_create("dev")
        project.add_user("dev-only", None, roles=[("developer", "dev"), ("viewer", "*")])
        value = project.create_token("t", ["developer", "viewer"], owner="dev-only")
    with (
        serving(root) as served,
        httpx.Client(
            base_url=f"{served.url}/api/v1",
            headers={"Authorization": f"Bearer {value}"},
            timeout=60,
        ) as api,
    ):
        assert api.post("/schedules/nightly_dev/trigger").status_code == 202
        refused = api.post("/schedules/nightly_prod/trigger")
        assert refused.status_code == 403 and "in prod" in refused.json()["detail"]


def test_only_an_admin_of_every_environment_manages_users(hub: Served) -> None:
    with Project.load(hub.hub.root) as project:
        project.add_user("dev-admin", None, roles=[("admin", "dev-*")])
        local_admin = project.create_token("t", ["admin"], owner="dev-admin")
    escalate = {"role": "admin", "scope": "*"}
    as_local = {"Authorization": f"Bearer {local_admin}"}
    refused = httpx.post(
        f"{hub.url}/api/v1/users/dev-admin/roles",
        params={"env": "dev-x"},
        json=escalate,
        headers=as_local,
    )
    assert refused.status_code == 403
    api = httpx.Client(base_url=f"{hub.url}/api/v1", headers=hub.headers, timeout=60)
    with api:
        made = api.post("/users", json={"name": "eve", "roles": ["viewer@dev-*"]})
        assert made.status_code == 201, made.text
        weak = api.post("/users", json={"name": "fay", "password": "password1234"})
        assert weak.status_code == 400 and "password is refused" in weak.json()["detail"]
        assert api.post("/users/eve/roles", json={"role": "deployer", "scope": "prod"}).json()[
            "added"
        ]
        users = {u["name"]: u for u in api.get("/users").json()["users"]}
        assert sorted(users["eve"]["roles"]) == ["deployer@prod", "viewer@dev-*"]
        assert "password" not in str(users["eve"])
        assert api.delete("/users/eve/roles/deployer", params={"scope": "prod"}).status_code == 200
        assert api.post("/users/eve/disable", json={}).json()["disabled"] is True
