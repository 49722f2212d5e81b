"""Events into the hub: batched ingestion rate and single-event latency, through the real server.

A real hub (`headgate serve` in a process of its own, SQLite metadata store in WAL mode)
receives, from this process:

- batches of 1,000 DataKitchen-shaped events (run status with tasks, metric logs, test
  outcomes) from 2 client threads: events kept per second (target >= 5,000/s on 2 cores);
- single run-status events, one request at a time: latency p50/p99 (target p99 < 20 ms).

Every event is counted back from the store afterwards. The hub's CPU time is measured
too (events per CPU second, CPU per single event): what it costs, whatever else the
machine is doing. Marquez publishes no ingestion
figure we could find, and takes one OpenLineage event per request (no batch endpoint:
MarquezProject/marquez#2918), so its rate is bounded by single-event latency.

    .venv/bin/python bench/events.py                   # 100,000 batched, 2,000 single
    .venv/bin/python bench/events.py --events 20000 --single 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "events.json"
HEADGATE = Path(sys.executable).with_name("headgate")
BATCH = 1000
CLIENTS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="batched events in all")
    parser.add_argument("--single", type=int, default=2000, help="single-event requests")
    parser.add_argument("--work", type=Path, default=ROOT / ".work-events")
    args = parser.parse_args()

    project = make_project(args.work / "project")
    headers = token_headers(project)
    port = free_port()
    hub = subprocess.Popen(
        [str(HEADGATE), "-p", str(project), "serve", "--port", str(port), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for(url, headers)
        before = cpu_seconds(hub.pid)
        batched = batched_rate(url, headers, args.events)
        time.sleep(2)  # the observer's look at the last batches is the hub's work too
        used = cpu_seconds(hub.pid) - before
        batched["hub_cpu_seconds"] = round(used, 2)
        batched["events_per_hub_cpu_second"] = round(batched["events"] / used, 1)
        before = cpu_seconds(hub.pid)
        single = single_latency(url, headers, args.single)
        single["hub_cpu_ms_per_request"] = round(
            (cpu_seconds(hub.pid) - before) * 1000 / args.single, 2
        )
    finally:
        hub.terminate()
        hub.wait(timeout=60)
    kept = stored_events(project)
    expected = batched["events"] + single["requests"] + 10  # and the warm-up's
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "batched": batched,
        "single": single,
        "stored": kept,
        "all_stored": kept == expected,
        "targets": {"events_per_second": 5000, "p99_ms": 20},
        "load_average": round(os.getloadavg()[0], 1),
        "marquez": "no published ingestion figure found; one event per request "
        "(MarquezProject/marquez#2918 asks for a batch endpoint)",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"batched: {batched['events']:,} events in {batched['seconds']:.2f} s = "
        f"{batched['events_per_second']:,.0f} events/s (target >= 5,000)"
    )
    print(
        f"single: p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms "
        f"over {single['requests']:,} requests (target p99 < 20 ms)"
    )
    print(
        f"hub CPU: {batched['events_per_hub_cpu_second']:,.0f} events per CPU second batched, "
        f"{single['hub_cpu_ms_per_request']:.2f} ms per single event; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"stored: {kept:,} events ({'all' if kept == expected else f'expected {expected:,}'})")


def make_project(root: Path) -> Path:
    """A one-model project; a fresh metadata store each time."""
    if root.exists():
        shutil.rmtree(root)
    (root / "models").mkdir(parents=True)
    (root / "headgate.yml").write_text(
        "name: events_bench\n"
        "observe:\n"
        "  journeys:\n"
        "    - name: nightly\n"
        "      path: [job_0, job_1, job_2]\n"
    )
    (root / "models" / "one.sql").write_text("select 1 as one\n")
    return root


def token_headers(project: Path) -> dict[str, str]:
    """An administrator's API token, when this headgate has users and tokens."""
    from headgate.facade import Project

    with Project.load(project) as loaded:
        make = getattr(loaded, "create_token", None)
        if make is None:
            return {}
        loaded.add_user("bench-admin", "a long bench pass phrase 42", roles=[("admin", "*")])
        return {"Authorization": f"Bearer {make('bench', ['admin'], owner='bench-admin')}"}


def batch_of(client: int, number: int) -> list[dict[str, Any]]:
    """1,000 events: runs opening and closing with tasks, metrics, test outcomes."""
    events: list[dict[str, Any]] = []
    for i in range(BATCH // 10):
        job = f"job_{i % 50}"
        run = f"c{client}-b{number}-r{i}"
        base = {"event_type": "run-status", "pipeline_key": job, "run_key": run}
        events += [
            {**base, "status": "RUNNING", "component_tool": "airflow"},
            {**base, "task_key": "extract", "status": "RUNNING"},
            {**base, "task_key": "extract", "status": "COMPLETED"},
            {**base, "task_key": "load", "status": "RUNNING"},
            {**base, "task_key": "load", "status": "COMPLETED"},
            {
                "event_type": "metric-log",
                "pipeline_key": job,
                "run_key": run,
                "metric_key": "rows",
                "metric_value": 1000 + i,
            },
            {
                "event_type": "metric-log",
                "pipeline_key": job,
                "run_key": run,
                "metric_key": "seconds",
                "metric_value": 12.5,
            },
            {
                "event_type": "test-outcomes",
                "dataset_key": f"table_{i % 20}",
                "test_outcomes": [
                    {
                        "name": "row_count",
                        "status": "PASSED",
                        "metric_value": 1000,
                        "min_threshold": 1,
                    }
                ],
            },
            {
                "event_type": "message-log",
                "pipeline_key": job,
                "run_key": run,
                "log_level": "INFO",
                "message": "loaded",
            },
            {**base, "status": "COMPLETED"},
        ]
    return events


def batched_rate(url: str, headers: dict[str, str], total: int) -> dict[str, Any]:
    batches = max(1, total // BATCH)
    bodies = [json.dumps({"events": batch_of(n % CLIENTS, n)}).encode() for n in range(batches)]
    errors: list[str] = []
    latencies: list[float] = []

    def client(index: int) -> None:
        with httpx.Client(
            headers={**headers, "content-type": "application/json"}, timeout=120
        ) as c:
            for body in bodies[index::CLIENTS]:
                started = time.perf_counter()
                answer = c.post(f"{url}/events/batch", content=body)
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 201:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} batches refused, e.g. {errors[0]}")
    events = batches * BATCH
    return {
        "events": events,
        "batch": BATCH,
        "clients": CLIENTS,
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def single_latency(url: str, headers: dict[str, str], requests: int) -> dict[str, Any]:
    times: list[float] = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for i in range(requests):
            body = {
                "pipeline_key": f"single_{i % 10}",
                "run_key": f"s{i}",
                "status": "RUNNING" if i % 2 == 0 else "COMPLETED",
            }
            started = time.perf_counter()
            answer = client.post(f"{url}/events/run-status", json=body)
            times.append(time.perf_counter() - started)
            if answer.status_code != 201:
                raise SystemExit(f"single event refused: {answer.status_code} {answer.text}")
    times.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
    }


def stored_events(project: Path) -> int:
    from headgate.facade import Project
    from headgate.observe.queries import event_count

    with Project.load(project) as loaded:
        return event_count(loaded.state)


def wait_for(url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 120
    warm = {"pipeline_key": "warm", "run_key": "w", "status": "RUNNING"}
    while True:
        try:
            answer = httpx.post(f"{url}/events/run-status", json=warm, headers=headers, timeout=5)
            if answer.status_code == 201:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the hub did not start")
        time.sleep(0.2)
    for _ in range(9):  # warm the server's code paths
        httpx.post(f"{url}/events/run-status", json=warm, headers=headers, timeout=5)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used: what it costs, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
