"""The web UI's page latency on the 1,000-model project, served by a real hub.

Builds the layered project of ``bench/_projects.py`` (1,000 models) once, runs it into
prod and creates ``dev`` from it, starts the hub under Uvicorn on a loopback port and
asks each main page ``--requests`` times in a row (after a few warm-up requests),
one client at a time: p50 and p99 of the whole answer, as a browser would wait for it.

Then the pages right after a write, which is when every cache of the hub is cold: a run
that changes something (one model of dev rebuilt with a full refresh, through the API,
as a person or a schedule would start it) and, once it has finished, each page asked
once; repeated ``--after-writes`` times, p50 and p99 per page. The machine's load
average is written beside the figures: figures taken under load say so.

Targets: every page under 300 ms p99 on 2 cores, also right after a write; the lineage
page of 1,000 models under 1 s.

    .venv/bin/python bench/ui.py [--models 1000] [--rows 10000] [--requests 40]
        [--after-writes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _projects as projects
from _hubauth import admin_headers

RESULTS = Path(__file__).resolve().parent / "results" / "ui.json"
TARGET_MS = 300.0
LINEAGE_TARGET_MS = 1000.0


def pages(dag: projects.Dag) -> dict[str, str]:
    deepest = max(dag.models, key=lambda m: (m.layer, m.index))
    middle = sorted(dag.models, key=lambda m: m.index)[len(dag.models) // 2]
    return {
        "overview": "/",
        "lineage": "/lineage",
        "model (deepest)": f"/models/{deepest.name}",
        "model (middle)": f"/models/{middle.name}",
        "runs": "/runs",
        "run (1,000 tasks)": "/runs/1",
        "run API (1,000 tasks)": "/api/v1/runs/1",
        "environments": "/environments",
        "environment prod": "/environments/prod",
        "compare dev with prod": "/environments/compare?left=dev&right=prod",
        "change review (form)": "/review",
        "deliveries": "/deliveries",
    }


WAIT_SECONDS = 600.0  # a rebuild of one model that takes longer than this is a hang


@contextmanager
def hub_server(root: Path) -> Iterator[tuple[str, Any]]:
    import socket

    import uvicorn

    from headgate.server.app import create_app  # noqa: TID251 - the benchmark drives the hub

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    app = create_app(root)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app.state.hub
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def measure(client: httpx.Client, path: str, requests: int) -> dict[str, float]:
    for _ in range(3):
        client.get(path).raise_for_status()
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
    return percentiles(seconds, len(answer.content))


def percentiles(seconds: list[float], size: int) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "bytes": size,
    }


def rebuild(client: httpx.Client, model: str) -> None:
    """A run that changes something: ``model`` rebuilt in dev from scratch and published
    there, started through the API; returns once the hub has carried it out."""
    answer = client.post(
        "/api/v1/runs", json={"environment": "dev", "select": model, "full_refresh": True}
    )
    answer.raise_for_status()
    job = answer.json()["job_id"]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = client.get(f"/api/v1/jobs/{job}").json()
        if found["status"] not in ("queued", "running"):
            if found["status"] != "done":
                raise SystemExit(f"the run did not succeed: {found.get('error')}")
            return
        time.sleep(0.05)
    raise SystemExit(f"the run of job {job} did not end within {WAIT_SECONDS:.0f} s")


def after_writes(
    client: httpx.Client, paths: dict[str, str], model: str, writes: int
) -> dict[str, dict[str, float]]:
    """Each page asked once right after each of ``writes`` runs: p50 and p99 per page."""
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, int] = {}
    for _ in range(writes):
        rebuild(client, model)
        for name, path in paths.items():
            started = time.perf_counter()
            answer = client.get(path)
            seconds[name].append(time.perf_counter() - started)
            answer.raise_for_status()
            sizes[name] = len(answer.content)
    return {name: percentiles(seconds[name], sizes[name]) for name in paths}


def show(name: str, found: dict[str, float]) -> None:
    target = LINEAGE_TARGET_MS if name.startswith("lineage") else TARGET_MS
    verdict = "met" if found["p99_ms"] <= target else "MISSED"
    print(
        f"{name:<44} p50 {found['p50_ms']:>7.1f} ms   p99 {found['p99_ms']:>7.1f} ms"
        f"   {found['bytes'] / 1024:>7.0f} KiB   target {target:.0f} ms: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--after-writes", type=int, default=20, help="runs, each followed by every page once"
    )
    parser.add_argument(
        "--keep", type=Path, help="build the project in this folder and keep it; reuse it if built"
    )
    args = parser.parse_args()

    from headgate.facade import Project

    work = args.keep or Path(tempfile.mkdtemp(prefix="headgate-ui-bench-"))
    try:
        dag = projects.build_dag(args.models, args.rows)
        root = work / "project"
        if not (root / ".headgate" / "warehouse.duckdb").exists():
            projects.write_headgate(dag, root)
            started = time.perf_counter()
            with Project.load(root) as project:
                assert project.run().ok
                project.env_create("dev", source="prod")
            print(f"built {args.models:,} models in {time.perf_counter() - started:.1f} s")
        results: dict[str, dict[str, float]] = {}
        headers = admin_headers(root)
        load_before = os.getloadavg()
        with (
            hub_server(root) as (url, _hub),
            httpx.Client(base_url=url, timeout=120, headers=headers) as client,
        ):
            paths = pages(dag)
            for name, path in paths.items():
                results[name] = measure(client, path, args.requests)
                show(name, results[name])
            leaf = max(dag.models, key=lambda m: (m.layer, m.index)).name
            cold = after_writes(client, paths, leaf, args.after_writes)
            for name, found in cold.items():
                results[f"{name}, right after a run"] = found
                show(f"{name}, right after a run", found)
        load_after = os.getloadavg()
        print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "models": args.models,
                    "rows": args.rows,
                    "requests": args.requests,
                    "after_writes": args.after_writes,
                    "load_average": {"before": load_before, "after": load_after},
                    "cpus": os.cpu_count(),
                    "pages": results,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"written to {RESULTS}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
