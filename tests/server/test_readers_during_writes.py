"""Readers querying prod through the hub while it creates an environment, runs, deploys
and rolls back: each sees the old data or the new, never an error, never a wait for a lock."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.hubs import auth, commit_on_branch, make_project, running_hub

pytestmark = pytest.mark.fast
READERS = 4
SQL = "select sum(revenue) as total, count(*) as customers from marts.revenue"


def test_readers_see_only_old_or_new_values_and_no_error_through_every_write(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "shop")
    doubled = (
        (project / "models/marts/revenue.sql")
        .read_text()
        .replace("sum(amount) as revenue", "sum(amount) * 2 as revenue")
    )
    commit_on_branch(project, "double", {"models/marts/revenue.sql": doubled}, tmp_path / "wt")
    seen: list[tuple[float, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    with running_hub(project) as url:
        api = httpx.Client(base_url=f"{url}/api/v1", timeout=60, headers=auth(url))
        old = tuple(api.post("/query", json={"sql": SQL}).json()["rows"][0].values())

        def read() -> None:
            with httpx.Client(base_url=f"{url}/api/v1", timeout=60, headers=auth(url)) as client:
                while not stop.is_set():
                    answer = client.post("/query", json={"sql": SQL})
                    if answer.status_code != 200:
                        errors.append(f"{answer.status_code}: {answer.text}")
                        continue
                    row = answer.json()["rows"][0]
                    seen.append((row["total"], row["customers"]))

        readers = [threading.Thread(target=read) for _ in range(READERS)]
        for reader in readers:
            reader.start()
        try:
            created = api.post("/environments", json={"name": "next", "from": "prod"})
            assert created.status_code == 201, created.text
            run = api.post("/runs", json={"environment": "next", "revision": "double"}).json()
            with api.stream("GET", f"/runs/{run['run_id']}/events") as events:
                for _ in events.iter_lines():
                    pass
            assert api.get(f"/runs/{run['run_id']}").json()["status"] == "success"
            deployed = api.post("/deployments", json={"from": "next", "to": "prod"})
            assert deployed.status_code == 201, deployed.text
            new = (old[0] * 2, old[1])
            _wait_until(lambda: any(v == new for v in seen[-READERS * 4 :]))
            rolled = api.post("/environments/prod/rollback", json={})
            assert rolled.status_code == 201, rolled.text
            _wait_until(lambda: all(v == old for v in seen[-READERS:]))
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=60)
        api.close()

    assert errors == []
    assert len(seen) > READERS * 10
    assert set(seen) == {old, new}  # never a mix of the two versions, never anything else


def _wait_until(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "readers never saw the change"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform != "linux", reason="threads have their own niceness on Linux")
def test_the_writer_lane_yields_the_cores_to_readers(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    with running_hub(project):
        (writer,) = [t for t in threading.enumerate() if t.name == "hub-writer"]
        assert niceness(writer.native_id) > niceness(threading.get_native_id())


def niceness(thread: int | None) -> int:
    fields = Path(f"/proc/self/task/{thread}/stat").read_text().rpartition(")")[2].split()
    return int(fields[16])  # the 19th field of stat; the first two come before ")"
