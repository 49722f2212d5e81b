"""The metadata store's own costs: opening it, and registering and reading 10,000 physical tables.

Every command opens the store once, and a project with thousands of models registers
and reads thousands of physical tables per run, so these are paid on every command.
Measured in this process on SQLite (a fresh file under a temporary folder) and, with
`--postgres URL`, on PostgreSQL (a schema of its own, dropped afterwards). Each
figure is the fastest of `--repeat` tries, printed beside its target.

    .venv/bin/python bench/store.py
    .venv/bin/python bench/store.py --tables 1000 --repeat 1          # smoke check
    .venv/bin/python bench/store.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from headgate.state import PhysicalRecord
from headgate.state.store import StateStore

BENCH = Path(__file__).resolve().parent
TARGETS = {  # seconds, for the default 10,000 tables
    "warm open": 0.2,
    "register tables": 3.0,
    "read tables": 1.5,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tables", type=int, default=10_000, help="physical tables registered")
    parser.add_argument("--repeat", type=int, default=3, help="tries per figure; the fastest")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL store")
    parser.add_argument(
        "--out", type=Path, help="write the figures as JSON here (e.g. bench/results/store.json)"
    )
    return parser.parse_args(argv)


def physical(i: int) -> PhysicalRecord:
    return PhysicalRecord(
        name=f"headgate_physical.model_{i}__fp{i}",
        model=f"staging.model_{i}",
        fingerprint=f"fp{i}",
        kind="table",
        rows=i,
        inputs={f"up_{i}": 1},
    )


@contextmanager
def sqlite_store() -> Iterator[Callable[[], StateStore]]:
    with tempfile.TemporaryDirectory(prefix="headgate-bench-store-") as folder:
        url = f"sqlite:///{Path(folder) / 'state.db'}"
        yield lambda: StateStore.open(url, project_dir=Path(folder))


@contextmanager
def postgres_store(url: str) -> Iterator[Callable[[], StateStore]]:
    schema = f"hg_bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="headgate-bench-store-") as folder:
        try:
            yield lambda: StateStore.open(url, project_dir=Path(folder), schema=schema)
        finally:
            import psycopg
            from psycopg import sql

            plain = url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


def one_try(opener: Callable[[], StateStore], records: list[PhysicalRecord]) -> dict[str, float]:
    """Seconds of each step on a store whose schema exists and that holds no tables yet."""
    opener().close()  # creates the schema: the open measured next is a warm one
    began = time.perf_counter()
    opener().close()
    opened = time.perf_counter() - began
    store = opener()
    try:
        began = time.perf_counter()
        store.register_physical(records)
        registered = time.perf_counter() - began
        began = time.perf_counter()
        read = store.physical_tables()
        reading = time.perf_counter() - began
    finally:
        store.close()
    assert len(read) == len(records), "the store lost tables"
    return {"warm open": opened, "register tables": registered, "read tables": reading}


def measure(
    fresh_store: Callable[[], AbstractContextManager[Callable[[], StateStore]]],
    tables: int,
    repeat: int,
) -> dict[str, float]:
    """The fastest of ``repeat`` tries of each step, in seconds, each try on a new store."""
    records = [physical(i) for i in range(tables)]
    tries = []
    for _ in range(repeat):
        with fresh_store() as opener:
            tries.append(one_try(opener, records))
    return {name: min(t[name] for t in tries) for name in TARGETS}


def report(backend: str, figures: dict[str, float], tables: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    scale = tables / 10_000
    for name, seconds in figures.items():
        target = TARGETS[name] * (1 if name == "warm open" else scale)
        rows.append(
            {
                "backend": backend,
                "step": name,
                "seconds": round(seconds, 4),
                "target": round(target, 4),
                "ratio": round(seconds / target, 2),
                "met": seconds <= target,
            }
        )
        verdict = "met" if seconds <= target else "MISSED"
        print(
            f"{backend:<10} {name:<16} {seconds:8.3f} s   target {target:6.2f} s   "
            f"{seconds / target:5.2f}x of target: {verdict}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    print(f"metadata store, {options.tables:,} physical tables, fastest of {options.repeat}")
    rows: list[dict[str, object]] = []
    figures = measure(sqlite_store, options.tables, options.repeat)
    rows += report("sqlite", figures, options.tables)
    if options.postgres:
        url = options.postgres
        figures = measure(lambda: postgres_store(url), options.tables, options.repeat)
        rows += report("postgresql", figures, options.tables)
    if options.out:
        document = {
            "tables": options.tables,
            "repeat": options.repeat,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "results": rows,
        }
        options.out.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if all(row["met"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
