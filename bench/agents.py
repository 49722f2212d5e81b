"""Runs through the hub and its agents vs the same run locally; dispatch rate; dispatch delay.

On the generated layered project (bench/_projects.py), its warehouse and metadata store
in the test PostgreSQL (the set-up where a hub and a site's agents share an engine):

- local: ``headgate run`` in one process, with as many threads as the agents have slots;
- hub + N agents (N = 1, 2, 4; capacity 1 each): a real ``headgate serve`` and N real
  ``headgate agent`` processes, the agents in a checkout of their own whose ``state:``
  they cannot reach (they read and write the store through the hub only); from the request (POST /api/v1/queue/runs) to the run
  published, against the local run of the same project from the same empty state;
- tasks dispatched per second: tasks queued without work (no dependencies), taken and
  completed by 8 HTTP clients as fast as the hub hands them out, one per call and two per
  call (the exchange, as an agent keeping one task in hand calls it);
- dispatch delay: a one-model run requested again and again while idle agents long-poll;
  from the run's recorded start to its task starting on an agent (p50, p99). The delay
  from a schedule's slot to the run's request is the scheduler's (bench/README.md).

Each measurement starts from nothing: the schemas are dropped, the system catalogs
vacuumed (their dead rows slow every DDL statement down on a server without autovacuum)
and the store is new. Runs on a shared machine vary by 0.1-0.2x from one to the next:
``--repeat 3`` measures each agent count three times and keeps the median run's figures
with every ratio (the README's figures are taken so).

    .venv/bin/python bench/agents.py --repeat 3            # 1,000 models, as the README
    .venv/bin/python bench/agents.py --models 200 --rows 20000 --agents 1,2
    .venv/bin/python bench/agents.py --models 100 --agents 1 --parts runs \
        --results /tmp/agents.json --profile /tmp/hub.prof    # a smoke run, the hub profiled

``--profile`` runs the hub under cProfile in every thread (bench/_profiled.py); read the
stats with ``python -m pstats``. Each run prints its milliseconds per task, hub and local;
a task's median length as the run recorded it; the time per task a slot spent between
tasks (from the first task's start to the last one's end) and the run's time outside
them (planning, queueing, publishing); the CPU per task of the hub, of the agents and
of the local run's process; and the whole machine's (from /proc/stat): its CPU per task,
the part headgate's processes did not spend (PostgreSQL's, mostly: the warehouse's SQL
and the store's queries) and how busy its cores were, which tells whether a run had the
cores to itself or waited for them. The run's end is awaited on its job's events (one
request).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import busy_cpu_seconds
from _projects import build_dag, write_headgate

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "agents.json"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "bench_ag_"
STATE = "bench_ag_state"
ENV = "bench"
API = "/api/v1"
UNREACHABLE = "postgresql://headgate@127.0.0.1:1/test"  # the agents' checkout: no store
CATALOGS = ("pg_class", "pg_attribute", "pg_depend", "pg_type", "pg_constraint", "pg_index")
PROFILES: dict[str, Path | None] = {}  # --profile, --profile-agent: cProfile stats go here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--agents", default="1,2,4", help="agent counts to measure")
    parser.add_argument("--dispatch-tasks", type=int, default=2000)
    parser.add_argument("--delays", type=int, default=100, help="one-model runs for the delay")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("HEADGATE_TEST_POSTGRES", DEFAULT_URL)
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".work-agents")
    parser.add_argument(
        "--prefetch", type=int, default=16, help="agents keep up to this many tasks in hand"
    )
    parser.add_argument(
        "--parts", default="runs,dispatch,delay", help="what to measure: runs, dispatch, delay"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write them")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each agent count this many times; "
        "the median run's figures are kept, with every ratio",
    )
    parser.add_argument(
        "--profile", type=Path, help="run the hub under cProfile (every thread), stats here"
    )
    parser.add_argument(
        "--profile-agent", type=Path, help="run the first agent under cProfile, stats here"
    )
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    PROFILES.update({"hub": args.profile, "agent": args.profile_agent})

    project = args.work / f"project-{args.models}"
    write(project, args.models, args.rows, args.postgres_url)
    site = args.work / f"site-{args.models}"
    write(site, args.models, args.rows, args.postgres_url, state=UNREACHABLE)
    counts = [int(n) for n in args.agents.split(",") if n.strip()]
    results: dict[str, Any] = {"models": args.models, "rows": args.rows, "runs": {}}
    results["prefetch"] = args.prefetch
    for n in counts if "runs" in parts else []:
        measured = [one_measurement(project, site, n, args) for _ in range(args.repeat)]
        measured.sort(key=lambda m: float(m["ratio"]))
        middle = measured[len(measured) // 2]  # the median run's figures
        middle["ratios"] = [m["ratio"] for m in measured]
        results["runs"][str(n)] = middle
        if args.repeat > 1:
            print(f"{n} agent(s): median {middle['ratio']:.2f}x of {middle['ratios']}")
    if "dispatch" in parts:
        reset(args.postgres_url)
        results["dispatch"] = dispatch_rate(project, site, args.dispatch_tasks, args.work)
        print(f"dispatch: {results['dispatch']['tasks_per_second']:.0f} tasks/s")
        reset(args.postgres_url)
        batched = dispatch_rate(project, site, args.dispatch_tasks, args.work, batch=2)
        results["dispatch_batched"] = batched | {"batch": 2}
        print(f"dispatch, 2 tasks per call: {batched['tasks_per_second']:.0f} tasks/s")
    if "delay" in parts:
        reset(args.postgres_url)
        results["delay"] = dispatch_delay(
            project, site, args.delays, args.work, prefetch=args.prefetch
        )
        print(f"delay: p50 {results['delay']['p50']:.3f} s, p99 {results['delay']['p99']:.3f} s")
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    results["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1))
    print(f"written to {args.results}")


def one_measurement(project: Path, site: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The local run and the run through the hub and ``n`` agents, each from nothing."""
    reset(args.postgres_url)
    local, local_tasks = local_run(project, n)
    reset(args.postgres_url)
    through, hub_tasks = hub_run(project, site, n, args.work, prefetch=args.prefetch)
    per_task = {"local": 1000 * local / args.models, "hub": 1000 * through / args.models}
    measurement: dict[str, Any] = {
        "local_seconds": local,
        "hub_seconds": through,
        "ratio": round(through / local, 3),
        "ms_per_task": {k: round(v, 1) for k, v in per_task.items()},
        "tasks": {
            "local": {k: round(v, 1) for k, v in local_tasks.items()},
            "hub": {k: round(v, 1) for k, v in hub_tasks.items()},
        },
        "load_average": os.getloadavg()[0],
    }
    print(
        f"{n} agent(s): hub {through:.2f} s vs local {local:.2f} s ({through / local:.2f}x); "
        f"{per_task['hub']:.1f} vs {per_task['local']:.1f} ms per task; "
        f"load {os.getloadavg()[0]:.1f}\n"
        f"  a task's median {hub_tasks.get('task_p50_ms', 0):.1f} vs "
        f"{local_tasks.get('task_p50_ms', 0):.1f} ms; outside tasks "
        f"{hub_tasks.get('between_ms', 0):.1f} vs {local_tasks.get('between_ms', 0):.1f} "
        "ms per task; before the first and after the last "
        f"{hub_tasks.get('edges_ms', 0):.0f} vs {local_tasks.get('edges_ms', 0):.0f} ms\n"
        f"  CPU per task: hub {hub_tasks['hub_cpu_ms']:.1f} ms + agents "
        f"{hub_tasks['cpu_ms']:.1f} ms vs local {local_tasks['cpu_ms']:.1f} ms; "
        f"the machine's {hub_tasks['machine_cpu_ms']:.1f} vs {local_tasks['machine_cpu_ms']:.1f}"
        f" ms (PostgreSQL and the rest {hub_tasks['others_cpu_ms']:.1f} vs "
        f"{local_tasks['others_cpu_ms']:.1f}); cores busy "
        f"{hub_tasks['machine_busy_pct']:.0f}% vs {local_tasks['machine_busy_pct']:.0f}%"
    )
    return measurement


# --- set-up ----------------------------------------------------------------------------------


def write(project: Path, models: int, rows: int, url: str, *, state: str | None = None) -> None:
    write_headgate(build_dag(models, rows), project)
    (project / "headgate.yml").write_text(
        f"name: bench\nengine:\n  type: postgres\n  url: {url}\n  schema_prefix: {PREFIX}\n"
        f"state_url: {state or url}\nstate_schema: {STATE}\n"
    )


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        names = con.execute(
            "select nspname from pg_namespace where starts_with(nspname, %s)", (PREFIX,)
        ).fetchall()
        for (name,) in names:
            con.execute(f'drop schema if exists "{name}" cascade')
        # the dropped tables' catalog rows, reclaimed (a server without autovacuum slows
        # down run after run as they pile up)
        for catalog in CATALOGS:
            con.execute(f"vacuum pg_catalog.{catalog}")


def token(project: Path) -> str:
    """An admin token for the hub (made afresh: the store was reset)."""
    from headgate.facade import Project

    with Project.load(project) as loaded:
        make = getattr(loaded, "create_token", None)
        if make is None:
            return ""
        loaded.add_user("bench-admin", "a long bench pass phrase 42", roles=[("admin", "*")])
        return str(make("bench", ["admin"], owner="bench-admin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Hub:
    """``headgate serve`` and N ``headgate agent`` processes for one measurement."""

    def __init__(
        self,
        project: Path,
        site: Path,
        agents: int,
        work: Path,
        *,
        wait: float = 20,
        prefetch: int = 0,
    ) -> None:
        self.project = project
        self.secret = token(project)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        work.mkdir(parents=True, exist_ok=True)
        base = [sys.executable, "-m", "headgate.cli.main", "-p", str(project)]
        if PROFILES.get("hub") is not None:
            base = [sys.executable, str(ROOT / "_profiled.py"), str(PROFILES["hub"])]
            base += ["-p", str(project)]
        self.log = open(work / "hub.log", "ab")  # noqa: SIM115 - closed in stop()
        self.processes = [
            subprocess.Popen(
                [*base, "serve", "--port", str(self.port), "--log-level", "warning"],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
        ]
        self.wait_until(lambda: self.answers(), 120, "the hub")
        env = {**os.environ, "HEADGATE_TOKEN": self.secret}
        for i in range(agents):
            command = [sys.executable, "-m", "headgate.cli.main", "-p", str(site), "agent"]
            if i == 0 and PROFILES.get("agent") is not None:
                command[1:3] = [str(ROOT / "_profiled.py"), str(PROFILES["agent"])]
            command += ["--hub", self.url, "--name", f"bench-{i}"]
            command += ["--capacity", "1", "--wait", str(wait), "--lease", "60"]
            command += ["--prefetch", str(prefetch)]  # 0 too: the agent keeps 16 by default
            self.processes.append(
                subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
            )
        self.client = httpx.Client(base_url=self.url + API, headers=self.headers, timeout=60)
        self.jobs: dict[int, int] = {}  # run -> the job following it
        self.wait_until(lambda: self.registered() >= agents, 120, "the agents to register")

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}{API}/project", headers=self.headers, timeout=2).is_success
        except httpx.HTTPError:
            return False

    def registered(self) -> int:
        return int(self.client.get("/agents").json()["total"])

    def run(self, **body: Any) -> int:
        answer = self.client.post("/queue/runs", json={"environment": ENV, **body})
        answer.raise_for_status()
        run_id = int(answer.json()["run_id"])
        self.jobs[run_id] = int(answer.json()["job_id"])
        return run_id

    def outcome(self, run_id: int, seconds: float) -> dict[str, Any]:
        """The run once the job following it has ended: its events are followed (one
        request; the hub looks at the job in its memory five times a second), so waiting
        loads the hub being measured as little as it can."""
        deadline = time.monotonic() + seconds
        path = f"/jobs/{self.jobs[run_id]}/events"
        with self.client.stream("GET", path) as events:
            for line in events.iter_lines():
                if line.startswith("event: end"):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"waited {seconds:g} s for run {run_id}")
        data: dict[str, Any] = self.client.get(f"/runs/{run_id}").json()
        return data

    def wait_until(self, condition: Any, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"waited {seconds:g} s for {what}")
            time.sleep(0.02)

    def cpu(self) -> list[float]:
        """CPU seconds each process has used so far (the hub first; Linux's /proc)."""
        return [cpu_seconds(process.pid) for process in self.processes]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process (0 where /proc cannot tell)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- measurements -----------------------------------------------------------------------------


def local_run(project: Path, threads: int) -> tuple[float, dict[str, float]]:
    from headgate.facade import Project

    with Project.load(project) as loaded:
        started, cpu, machine = time.perf_counter(), time.process_time(), busy_cpu_seconds()
        result = loaded.run(ENV, threads=threads)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        machine = busy_cpu_seconds() - machine
        tasks = loaded.run_detail(result.run_id, specs=False).tasks if result.run_id else []
    if result.status != "success":
        raise SystemExit(f"the local run failed: {result.status}")
    spans = [(t.started_at, t.ended_at) for t in tasks]
    count = max(len(tasks), 1)
    used = {"cpu_ms": 1000 * cpu / count} | machine_use(machine, cpu, took, count)
    return took, timings(spans, took, threads) | used


def machine_use(busy: float, ours: float, took: float, count: int) -> dict[str, float]:
    """The whole machine's CPU during a run: how busy its cores were (percent), its CPU
    per task, and the part not spent by headgate's own processes (PostgreSQL, mostly)."""
    return {
        "machine_busy_pct": 100 * busy / (took * (os.cpu_count() or 1)),
        "machine_cpu_ms": 1000 * busy / count,
        "others_cpu_ms": 1000 * (busy - ours) / count,
    }


def timings(spans: list[tuple[Any, Any]], took: float, slots: int) -> dict[str, float]:
    """Milliseconds: a task's median length (as its run recorded it), the time per task its
    slots spent outside any task between the first task's start and the last one's end,
    and the run's time outside that span (planning, queueing, publishing)."""
    ended = [
        (datetime.fromisoformat(str(s)), datetime.fromisoformat(str(e)))
        for s, e in spans
        if s and e
    ]
    lengths = [(e - s) / timedelta(seconds=1) for s, e in ended]
    if not lengths:
        return {}
    first, last = min(s for s, _ in ended), max(e for _, e in ended)
    edges = took - (last - first) / timedelta(seconds=1)  # before the first, after the last
    idle = (slots * (took - edges) - sum(lengths)) / len(lengths)
    return {
        "task_p50_ms": 1000 * statistics.median(lengths),
        "between_ms": 1000 * idle,
        "edges_ms": 1000 * edges,
    }


def hub_run(
    project: Path, site: Path, agents: int, work: Path, *, prefetch: int = 0
) -> tuple[float, dict[str, float]]:
    hub = Hub(project, site, agents, work, prefetch=prefetch)
    try:
        cpu, machine = hub.cpu(), busy_cpu_seconds()
        started = time.perf_counter()
        run_id = hub.run()
        done = hub.outcome(run_id, 7200)
        took = time.perf_counter() - started
        cpu = [after - before for after, before in zip(hub.cpu(), cpu, strict=True)]
        machine = busy_cpu_seconds() - machine
    finally:
        hub.stop()
    if done.get("status") != "success":
        raise SystemExit(
            f"the run through the hub failed: {done.get('status')} {done.get('error')}"
        )
    spans = [(t.get("started_at"), t.get("ended_at")) for t in done.get("tasks", [])]
    count = max(len(spans), 1)
    used = {"cpu_ms": 1000 * sum(cpu[1:]) / count, "hub_cpu_ms": 1000 * cpu[0] / count}
    used |= machine_use(machine, sum(cpu), took, count)
    return took, timings(spans, took, agents) | used


def dispatch_rate(
    project: Path, site: Path, tasks: int, work: Path, batch: int = 0
) -> dict[str, Any]:
    """Tasks without work, queued at once, taken and completed by 8 HTTP clients: one
    task per call, or (``batch``) through the exchange, ``batch`` tasks per call."""
    from headgate.facade import Project

    hub = Hub(project, site, 0, work)
    try:
        with Project.load(project) as loaded:  # a run of its own: a claim takes a run's tasks
            run_id = loaded.state.start_run(
                environment=ENV,
                command="dispatch",
                selection=None,
                user=None,
                host=None,
                pid=None,
                git_commit=None,
            )
            loaded.state.enqueue_tasks(run_id, [(f"t{i}", {}, []) for i in range(tasks)])
        done = [0] * 8

        def client(i: int) -> None:
            name = f"dispatch-{i}"
            with httpx.Client(base_url=hub.url + API, headers=hub.headers, timeout=60) as c:
                c.post("/agents", json={"name": name}).raise_for_status()
                if batch:
                    exchanging(c, name, i)
                    return
                while True:
                    answer = c.post(f"/agents/{name}/claim", json={"wait_seconds": 0})
                    if answer.status_code == 204:
                        return
                    lease = answer.json()["lease"]
                    c.post(
                        f"/agents/tasks/{lease['id']}/complete",
                        json={"fence": lease["fence"], "ok": True},
                    )
                    done[i] += 1

        def exchanging(c: httpx.Client, name: str, i: int) -> None:
            """As an agent keeping tasks in hand: each call reports the last batch's
            results and takes the next batch."""
            results: list[dict[str, Any]] = []
            while True:
                body = {"results": results, "want": batch}
                taken = c.post(f"/agents/{name}/exchange", json=body).json()["tasks"]
                done[i] += len(results)
                if not taken:
                    return
                results = [
                    {"lease_id": t["lease"]["id"], "fence": t["lease"]["fence"], "ok": True}
                    for t in taken
                ]

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - started
    finally:
        hub.stop()
    return {"tasks": sum(done), "seconds": round(took, 3), "tasks_per_second": sum(done) / took}


def dispatch_delay(
    project: Path, site: Path, runs: int, work: Path, *, prefetch: int = 0
) -> dict[str, Any]:
    """From a one-model run's recorded start to its task starting on an idle agent (the
    model rebuilt from scratch each time, so each run has a task), agents as they run by
    default (keeping tasks in hand)."""
    hub = Hub(project, site, 2, work, prefetch=prefetch)
    delays: list[float] = []
    seed = sorted((project / "models" / "layer_00").glob("*.sql"))[0]
    try:
        for _ in range(runs):
            run_id = hub.run(select=f"layer_00.{seed.stem}", full_refresh=True)
            done = hub.outcome(run_id, 600)
            task = next((t for t in done["tasks"] if t.get("started_at")), None)
            if task is None:
                raise SystemExit(f"run {run_id} carried out no task: {done.get('error')}")
            started = datetime.fromisoformat(done["started_at"])
            delays.append(
                (datetime.fromisoformat(task["started_at"]) - started) / timedelta(seconds=1)
            )
    finally:
        hub.stop()
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    return {
        "runs": len(delays),
        "p50": statistics.median(ordered) if ordered else float("nan"),
        "p99": p99,
        "max": ordered[-1] if ordered else float("nan"),
    }


if __name__ == "__main__":
    main()
