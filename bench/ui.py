"""The web UI's page latency on the 1,000-model project, served by a real hub.

Builds the layered project of ``bench/_projects.py`` (1,000 models) once, runs it into
prod and creates ``dev`` from it, starts the hub under Uvicorn on a loopback port and
asks each main page ``--requests`` times in a row (after a few warm-up requests),
one client at a time: p50 and p99 of the whole answer, as a browser would wait for it.

Targets: every page under 300 ms p99 on 2 cores; the lineage page of 1,000 models
under 1 s.

    .venv/bin/python bench/ui.py [--models 1000] [--rows 10000] [--requests 40]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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
        "environments": "/environments",
        "environment prod": "/environments/prod",
        "compare dev with prod": "/environments/compare?left=dev&right=prod",
        "change review (form)": "/review",
        "deliveries": "/deliveries",
    }


COLD = ("overview", "lineage", "model (deepest)", "environment prod")


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


def measure(
    client: httpx.Client, path: str, requests: int, before: Callable[[], None] | None = None
) -> dict[str, float]:
    for _ in range(3):
        client.get(path).raise_for_status()
    seconds = []
    for _ in range(requests):
        if before is not None:
            before()
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "bytes": len(answer.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
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
        with (
            hub_server(root) as (url, hub),
            httpx.Client(base_url=url, timeout=120, headers=headers) as client,
        ):

            def write_to_store() -> None:  # what a run or a deploy does: pages read afresh
                hub.store.record_metrics(None, "bench.marker", None, {"tick": 1.0})

            measured = [(name, path, None) for name, path in pages(dag).items()]
            measured += [
                (f"{name}, store just written", pages(dag)[name], write_to_store) for name in COLD
            ]
            for name, path, before in measured:
                results[name] = measure(client, path, args.requests, before)
                found = results[name]
                target = LINEAGE_TARGET_MS if name.startswith("lineage") else TARGET_MS
                verdict = "met" if found["p99_ms"] <= target else "MISSED"
                print(
                    f"{name:<36} p50 {found['p50_ms']:>7.1f} ms   p99 {found['p99_ms']:>7.1f} ms"
                    f"   {found['bytes'] / 1024:>7.0f} KiB   target {target:.0f} ms: {verdict}"
                )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "models": args.models,
                    "rows": args.rows,
                    "requests": args.requests,
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
