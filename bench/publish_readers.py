"""What readers of a PostgreSQL warehouse see while environments are published.

A project of MODELS tables is built in prod and, changed, in dev. Readers query prod's
views the way a BI tool does (their own psycopg connections, short queries in a loop)
while headgate deploys dev into prod and rolls it back, again and again. Measured:
errors readers got (must be 0), each reader query's latency (p50, p99, max), whether a
query ever saw a mix of old and new views (must never), and how long each publish took.

A second phase adds one long query (a dashboard holding a view for LONG seconds): the
publish then waits at most lock_timeout per try for its lock, rolls back so readers
queued behind it go on, and retries; the readers' p99 shows the cost.

    .venv/bin/python bench/publish_readers.py                # 20 models, 2 readers, 20 deploys
    .venv/bin/python bench/publish_readers.py --models 50 --readers 4 --deploys 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from headgate import Project

BENCH = Path(__file__).resolve().parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--deploys", type=int, default=20, help="deploys and rollbacks, in all")
    parser.add_argument("--long", type=float, default=5.0, help="seconds the long query holds")
    parser.add_argument("--lock-timeout", type=float, default=2.0)
    parser.add_argument("--url", default=os.environ.get("HEADGATE_TEST_POSTGRES", DEFAULT_URL))
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "publish_readers.json")
    return parser.parse_args()


def write_project(root: Path, url: str, prefix: str, models: int, lock_timeout: float) -> None:
    (root / "models" / "marts").mkdir(parents=True)
    (root / "headgate.yml").write_text(
        f"name: readers\nengine:\n  type: postgres\n  url: {url}\n  schema_prefix: {prefix}\n"
        f"  lock_timeout_seconds: {lock_timeout}\n  publish_attempts: 10\n"
    )
    for i in range(models):
        (root / "models" / "marts" / f"m{i:03d}.sql").write_text(
            f"select g as id, {i} as model, 1 as version from generate_series(1, 1000) as t(g)\n"
        )


def change_all(root: Path, models: int) -> None:
    for i in range(models):
        path = root / "models" / "marts" / f"m{i:03d}.sql"
        path.write_text(path.read_text().replace("1 as version", "2 as version"))


class Readers:
    """Threads that read prod's views in a loop, each on its own connection, timing each query."""

    def __init__(self, url: str, prefix: str, models: int, count: int) -> None:
        self.url, self.schema, self.models = url, f"{prefix}marts", models
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.mixed = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.read, args=(n,)) for n in range(count)]

    def read(self, number: int) -> None:
        first, last = f'"{self.schema}"."m000"', f'"{self.schema}"."m{self.models - 1:03d}"'
        query = f"SELECT (SELECT max(version) FROM {first}), (SELECT max(version) FROM {last})"
        with psycopg.connect(self.url, autocommit=True) as con:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    a, b = con.execute(query).fetchone()  # type: ignore[misc]
                except psycopg.Error as exc:
                    self.errors.append(str(exc).strip().splitlines()[0])
                    continue
                self.latencies.append(time.perf_counter() - started)
                self.mixed += int(a != b)

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        pick = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
        return {
            "queries": len(ordered),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "mixed_reads": self.mixed,
            "p50_ms": pick(0.50) if ordered else None,
            "p99_ms": pick(0.99) if ordered else None,
            "max_ms": round(1000 * ordered[-1], 2) if ordered else None,
        }


def hold_a_view(url: str, view: str, seconds: float, holding: threading.Event) -> None:
    """A long dashboard query: a transaction that read ``view`` and keeps it for ``seconds``."""
    with psycopg.connect(url) as con:
        con.execute(f"SELECT count(*) FROM {view}")
        holding.set()
        time.sleep(seconds)
        con.rollback()


def deploys(root: Path, count: int, long_hold: tuple[str, str, float] | None) -> list[float]:
    """Deploy dev into prod, then roll back, alternately; the seconds each publish took."""
    took = []
    for n in range(count):
        holder = None
        if long_hold is not None and n % 4 == 0:
            url, view, seconds = long_hold
            holding = threading.Event()
            holder = threading.Thread(target=hold_a_view, args=(url, view, seconds, holding))
            holder.start()
            holding.wait()
        started = time.perf_counter()
        with Project.load(root) as project:
            if n % 2 == 0:
                project.deploy("dev", "prod")
            else:
                project.rollback("prod")
        took.append(time.perf_counter() - started)
        if holder is not None:
            holder.join()
        time.sleep(0.1)
    return took


def drop_schemas(url: str, prefix: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        rows = con.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
        for (name,) in rows:
            con.execute(f'DROP SCHEMA "{name}" CASCADE')


def seconds_summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
    }


def main() -> int:
    args = parse_args()
    prefix = f"bench_readers_{uuid.uuid4().hex[:6]}_"
    found: dict[str, Any] = {
        "config": {k: str(v) for k, v in vars(args).items() if k != "url"},
        "load_average": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        write_project(root, args.url, prefix, args.models, args.lock_timeout)
        try:
            with Project.load(root) as project:
                assert project.run().status == "success"
                project.env_create("dev")
            change_all(root, args.models)
            with Project.load(root) as project:
                assert project.run(environment="dev").status == "success"
            for phase, hold in (
                ("short readers only", None),
                (
                    "with a long query every 4th deploy",
                    (args.url, f'"{prefix}marts"."m000"', args.long),
                ),
            ):
                with Readers(args.url, prefix, args.models, args.readers) as readers:
                    took = deploys(root, args.deploys, hold)
                found[phase] = {"readers": readers.summary(), "publish": seconds_summary(took)}
                print(phase, json.dumps(found[phase]), flush=True)
        finally:
            drop_schemas(args.url, prefix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=2) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
