"""The hub under load: API latency, readers during writes, query throughput, many clients.

On the generated 1,000-model project (bench/_projects.py), built into prod, a real hub
(`headgate serve` in a process of its own) is measured from this process:

- latency p50/p99 of the main API endpoints (sequential requests);
- readers' latency (4 threads querying prod in a loop) idle, and while the hub creates an
  environment, rebuilds a layer in it, deploys it to prod and rolls prod back; every
  answer checked (old or new value, never an error);
- query throughput of a large result (the seed, 200,000 rows x 6 columns, cross joined
  with range(50): 10,000,000 rows x 7 columns, 70 million cells, about 500 MB of Arrow):
  Arrow IPC streamed through the hub and read by the client with
  ``pyarrow.ipc.open_stream`` as it arrives (over http.client's response, and over httpx's
  raw stream), and read over the hub's Arrow Flight port (``do_get(...).read_all()``, on
  a new connection each time, and on one kept), vs the same query read as an Arrow table
  from DuckDB directly in one process, on a copy of the warehouse file (the hub owns the
  file while it runs); the five alternate,
  five rounds each; MB/s every way and CPU seconds of hub and client;
- 100 concurrent clients for 60 s on a mix of endpoints: requests served, errors.

    .venv/bin/python bench/hub.py                     # 1,000 models, 60 s of 100 clients
    .venv/bin/python bench/hub.py --models 200 --seconds 10
    .venv/bin/python bench/hub.py --parts readers,throughput   # only those (quick runs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hubauth import admin_headers
from _projects import build_dag, write_headgate

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "hub.json"
HEADGATE = Path(sys.executable).with_name("headgate")
READERS = 4
PARTS = ("endpoints", "readers", "throughput", "clients")
HEADERS: dict[str, str] = {}  # the administrator's token, set once the project is built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=60, help="per endpoint")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--work", type=Path, default=ROOT / ".work-hub")
    parser.add_argument("--copies", type=int, default=50, help="the large result: seed x N")
    parser.add_argument("--rounds", type=int, default=5, help="of the throughput comparison")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"of {','.join(PARTS)}")
    args = parser.parse_args()
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part {', '.join(unknown)}: choose among {', '.join(PARTS)}")

    project = args.work / f"project-{args.models}"
    build(project, args.models, args.rows)
    seed = "layer_00.seed"
    big = f"select * from {seed}, range({args.copies}) as r(copy)"  # rows x N, seven columns
    direct = copy_of_warehouse(project, args.work)
    HEADERS.update(admin_headers(project))
    port, flight_port = free_port(), free_port()
    serve = ["serve", "--port", str(port), "--flight-port", str(flight_port)]
    hub = subprocess.Popen(
        [str(HEADGATE), "-p", str(project), *serve, "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for(url)
        report: dict[str, Any] = {
            "models": args.models,
            "rows": args.rows,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        }
        report["load_average_before"] = list(os.getloadavg())
        if "endpoints" in parts:
            report["endpoints"] = endpoints(url, args.requests)
        if "readers" in parts:
            report["readers"] = readers_during_writes(url)
        if "throughput" in parts:
            flight = f"grpc://127.0.0.1:{flight_port}"
            report["throughput"] = throughput(url, flight, big, direct, hub.pid, args.rounds)
        if "clients" in parts:
            report["clients"] = many_clients(url, args.clients, args.seconds)
        report["load_average_after"] = list(os.getloadavg())
    finally:
        hub.terminate()
        hub.wait(timeout=60)
    out = RESULTS if set(parts) == set(PARTS) else args.work / "hub-partial.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report, out)


def build(project: Path, models: int, rows: int) -> None:
    marker = project / ".built"
    if marker.exists():
        return
    write_headgate(build_dag(models, rows), project)
    from headgate.facade import Project

    started = time.perf_counter()
    with Project.load(project) as loaded:
        assert loaded.run().ok
    print(f"built {models} models in {time.perf_counter() - started:.1f} s", flush=True)
    marker.write_text("")


def copy_of_warehouse(project: Path, work: Path) -> Path:
    """A copy of the warehouse file to read directly while the hub holds the original."""
    import shutil

    copy = work / "direct.duckdb"
    shutil.copyfile(project / ".headgate/warehouse.duckdb", copy)
    return copy


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/project", headers=HEADERS, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the hub did not start")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"n": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)}


def endpoints(url: str, requests: int) -> dict[str, dict[str, float]]:
    with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
        listed = client.get("/models", params={"kind": "model"}).json()["items"]
        model = listed[len(listed) // 2]["name"]
        paths = {
            "GET /models": ("GET", "/models", None),
            "GET /models/{name}": ("GET", f"/models/{model}", None),
            "GET /models/{name}/lineage": ("GET", f"/models/{model}/lineage", None),
            "GET /lineage": ("GET", "/lineage", None),
            "GET /runs": ("GET", "/runs", None),
            "GET /runs/{id}": ("GET", "/runs/1", None),
            "GET /checks": ("GET", "/checks", None),
            "GET /environments": ("GET", "/environments", None),
            "GET /environments/prod/status": ("GET", "/environments/prod/status", None),
            "GET /deployments": ("GET", "/deployments", None),
            "GET /plans": ("GET", "/plans", None),
            "POST /query (one row)": (
                "POST",
                "/query",
                {"sql": f"select count(*) as n from {model}"},
            ),
        }
        found = {}
        for label, (method, path, body) in paths.items():
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = client.request(method, path, json=body)
                times.append(time.perf_counter() - started)
                assert answer.status_code == 200, (label, answer.text[:300])
            found[label] = percentiles(times)
            print(f"{label}: {found[label]}", flush=True)
        return found


def readers_during_writes(url: str) -> dict[str, object]:
    sql = "select sum(v) as total, count(*) as n from layer_01.m0001"
    phase = {"name": "idle"}
    times: dict[str, list[float]] = {"idle": [], "writes": [], "deploy": []}
    values: set[tuple[float, int]] = set()
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
            while not stop.is_set():
                current = phase["name"]
                started = time.perf_counter()
                answer = client.post("/query", json={"sql": sql})
                elapsed = time.perf_counter() - started
                if answer.status_code != 200:
                    errors.append(answer.text[:200])
                    continue
                row = answer.json()["rows"][0]
                values.add((row["total"], row["n"]))
                times[current].append(elapsed)
                if current == "deploy":
                    times["writes"].append(elapsed)

    threads = [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=url, timeout=600, headers=HEADERS) as client:
        time.sleep(10)
        phase["name"] = "writes"
        started = time.perf_counter()
        name = f"next{os.getpid()}"  # the project is kept between runs of the bench
        assert client.post("/environments", json={"name": name}).status_code == 201
        run = client.post(
            "/runs", json={"environment": name, "select": "layer_01.*", "full_refresh": True}
        ).json()
        with client.stream("GET", f"/runs/{run['run_id']}/events") as events:
            for _ in events.iter_lines():
                pass
        phase["name"] = "deploy"
        deploy_started = time.perf_counter()
        deployed = client.post("/deployments", json={"from": name, "to": "prod"})
        deploy_seconds = time.perf_counter() - deploy_started
        phase["name"] = "writes"
        assert deployed.status_code == 201, deployed.text
        assert client.post("/environments/prod/rollback", json={}).status_code == 201
        writes_seconds = time.perf_counter() - started
        time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join()
    idle, during = percentiles(times["idle"]), percentiles(times["writes"])
    result = {
        "idle": idle,
        "during_writes": during,
        "during_deploy_call": percentiles(times["deploy"]),
        "writes_seconds": round(writes_seconds, 2),
        "deploy_seconds": round(deploy_seconds, 3),
        "errors": len(errors),
        "distinct_values": len(values),
        "p99_ratio_writes_vs_idle": round(during["p99_ms"] / idle["p99_ms"], 2),
    }
    print(f"readers: {result}", flush=True)
    return result


def throughput(
    url: str, flight: str, sql: str, direct: Path, hub_pid: int, rounds: int
) -> dict[str, object]:
    """The large result read directly, through the hub over http.client, over httpx and
    over Arrow Flight, alternately; the best round of each, and every round's ratio to the
    direct read of the same round."""
    import duckdb
    import pyarrow.flight

    connection = duckdb.connect(str(direct), read_only=True)
    kept = pyarrow.flight.connect(flight)  # a client that reads again on its connection
    ways = {
        "direct": lambda: connection.sql(sql).to_arrow_table(),
        "hub_http_client": lambda: arrow_through_hub(url, sql),
        "hub_httpx": lambda: arrow_over_httpx(url, sql),
        "hub_flight": lambda: arrow_over_flight(flight, sql),
        "hub_flight_kept": lambda: arrow_over_flight(flight, sql, kept),
    }
    rounds_seen: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    rows = size = columns = 0
    try:
        for _ in range(rounds):
            for name, read in ways.items():
                figures, table = timed(read, hub_pid)
                rounds_seen[name].append(figures)
                if name == "direct":
                    rows, size, columns = table.num_rows, table.nbytes, table.num_columns
                assert table.num_rows == rows, (name, table.num_rows, rows)
                del table
    finally:
        connection.close()
        kept.close()
    result: dict[str, object] = {
        "query": sql,
        "rows": rows,
        "columns": columns,
        "cells": rows * columns,
        "arrow_mb": round(size / 1e6, 1),
    }
    direct_seconds = [r["seconds"] for r in rounds_seen["direct"]]
    for name, seen in rounds_seen.items():
        best = min(seen, key=lambda r: r["seconds"])
        result[name] = {
            **best,
            "mb_per_s": round(size / 1e6 / best["seconds"]),
            "rows_per_s": round(rows / best["seconds"]),
            "seconds_per_round": [r["seconds"] for r in seen],
        }
        if name != "direct":
            result[name]["ratio"] = round(min(direct_seconds) / best["seconds"], 2)  # type: ignore[index]
            result[name]["ratio_per_round"] = [  # type: ignore[index]
                round(d / r["seconds"], 2) for d, r in zip(direct_seconds, seen, strict=True)
            ]
    result["ratio"] = max(result[n]["ratio"] for n in ways if n != "direct")  # type: ignore[index]
    print(f"throughput: {json.dumps(result)}", flush=True)
    return result


def timed(read: object, hub_pid: int) -> tuple[dict[str, float], pa.Table]:
    """Seconds of one read, and CPU seconds this process and the hub spent on it."""
    hub_cpu, own_cpu = cpu_seconds(hub_pid), time.process_time()
    started = time.perf_counter()
    table = read()  # type: ignore[operator]
    seconds = time.perf_counter() - started
    figures = {
        "seconds": round(seconds, 3),
        "client_cpu_s": round(time.process_time() - own_cpu, 3),
        "hub_cpu_s": round(cpu_seconds(hub_pid) - hub_cpu, 3),
    }
    return figures, table


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux: /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def arrow_through_hub(url: str, sql: str) -> pa.Table:
    """POST /query as an Arrow client reads it: the stream into pyarrow as it arrives."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    try:
        body = json.dumps({"sql": sql, "format": "arrow", "timeout": 600})
        headers = {**HEADERS, "Content-Type": "application/json"}
        connection.request("POST", f"{parts.path}/query", body=body, headers=headers)
        answer = connection.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"query answered {answer.status}: {answer.read()[:500]!r}")
        return pa.ipc.open_stream(answer).read_all()
    finally:
        connection.close()


def arrow_over_flight(location: str, sql: str, client: Any = None) -> pa.Table:
    """The same over the hub's Arrow Flight port, as README's snippet reads it: on a new
    connection, or on ``client``'s."""
    import pyarrow.flight as flight

    ticket = flight.Ticket(json.dumps({"sql": sql, "timeout": 600}).encode())
    options = flight.FlightCallOptions(
        headers=[(b"authorization", HEADERS["Authorization"].encode())]
    )
    if client is not None:
        return client.do_get(ticket, options).read_all()
    with flight.connect(location) as connected:
        return connected.do_get(ticket, options).read_all()


def arrow_over_httpx(url: str, sql: str) -> pa.Table:
    """The same with httpx: pyarrow reads the response's raw stream as it arrives."""
    body = {"sql": sql, "format": "arrow", "timeout": 600}
    with (
        httpx.Client(base_url=url, timeout=600, headers=HEADERS) as client,
        client.stream("POST", "/query", json=body) as answer,
    ):
        if answer.status_code != 200:
            raise RuntimeError(f"query answered {answer.status_code}: {answer.read()[:500]!r}")
        return pa.ipc.open_stream(ChunkReader(answer.iter_raw())).read_all()


class ChunkReader:
    """A file pyarrow can read, over an iterator of byte chunks (httpx's raw stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = memoryview(b"")
        self.closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return bytes(self._left) + b"".join(self._chunks)
        if len(self._left) >= size:
            out, self._left = self._left[:size], self._left[size:]
            return out.tobytes()
        parts: list[bytes | memoryview] = [self._left]
        have = len(self._left)
        self._left = memoryview(b"")
        for chunk in self._chunks:
            if have + len(chunk) >= size:
                parts.append(chunk[: size - have])
                self._left = memoryview(chunk)[size - have :]
                break
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self.closed = True


def many_clients(url: str, clients: int, seconds: float) -> dict[str, object]:
    paths = [
        ("GET", "/models?limit=50", None),
        ("GET", "/runs", None),
        ("GET", "/environments/prod/status", None),
        ("GET", "/checks", None),
        ("POST", "/query", {"sql": "select count(*) from layer_01.m0001"}),
        ("GET", "/models/layer_01.m0001", None),
    ]
    times: list[float] = []
    errors: list[str] = []
    guard = threading.Lock()
    deadline = time.monotonic() + seconds

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120, headers=HEADERS) as client:
            turn = index
            while time.monotonic() < deadline:
                method, path, body = paths[turn % len(paths)]
                turn += 1
                started = time.perf_counter()
                try:
                    answer = client.request(method, path, json=body)
                    ok = answer.status_code == 200
                    text = answer.text[:200]
                except httpx.HTTPError as exc:
                    ok, text = False, repr(exc)
                with guard:
                    times.append(time.perf_counter() - started)
                    if not ok:
                        errors.append(f"{method} {path}: {text}")

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "clients": clients,
        "seconds": seconds,
        "requests": len(times),
        "requests_per_s": round(len(times) / seconds, 1),
        "errors": len(errors),
        "first_errors": errors[:3],
        **percentiles(times),
    }
    print(f"clients: {result}", flush=True)
    return result


def print_report(report: dict[str, Any], out: Path) -> None:
    print(f"\nhub on {report['models']} models ({report['machine']})")
    for label, figures in report.get("endpoints", {}).items():
        print(f"  {label:32} p50 {figures['p50_ms']:8.1f} ms  p99 {figures['p99_ms']:8.1f} ms")
    if "readers" in report:
        readers = report["readers"]
        print(
            f"  readers p99: idle {readers['idle']['p99_ms']} ms, during writes "
            f"{readers['during_writes']['p99_ms']} ms (x{readers['p99_ratio_writes_vs_idle']}), "
            f"errors {readers['errors']}"
        )
    if "throughput" in report:
        flow = report["throughput"]
        print(
            f"  Arrow, {flow['rows']:,} rows, {flow['arrow_mb']} MB: direct "
            f"{flow['direct']['mb_per_s']} MB/s, hub (http.client) "
            f"{flow['hub_http_client']['mb_per_s']} MB/s ({flow['hub_http_client']['ratio']}x), "
            f"hub (httpx) {flow['hub_httpx']['mb_per_s']} MB/s ({flow['hub_httpx']['ratio']}x), "
            f"hub (Flight) {flow['hub_flight']['mb_per_s']} MB/s ({flow['hub_flight']['ratio']}x), "
            f"hub (Flight, kept connection) {flow['hub_flight_kept']['mb_per_s']} MB/s "
            f"({flow['hub_flight_kept']['ratio']}x)"
        )
    if "clients" in report:
        many = report["clients"]
        print(
            f"  {many['clients']} clients for {many['seconds']} s: {many['requests']} requests, "
            f"{many['errors']} errors, p99 {many['p99_ms']} ms"
        )
    print(f"  load average {report['load_average_before']} -> {report['load_average_after']}")
    print(f"  written to {out}")


if __name__ == "__main__":
    main()
