"""Do suggested checks alone stop defects before publish, without false alarms on clean days?

A shop's daily batches (customers, orders, payments; ``_suggestions_data.py``) land as CSV
files in a file source; three staging models read them. The bench replays:

1. ``--history`` clean days, each built with ``headgate run``; after each build the
   per-column metrics are kept (``record_build_metrics``, what a run does after a build).
2. ``headgate checks suggest`` on each staging model, written as the model's options
   unchanged: no check written by hand.
3. ``--clean`` further clean days with those checks: every run that does not publish, and
   every warning, is a false alarm.
4. From the state after step 2, once per defect kind, a day whose batch carries that
   defect: caught when the run refuses to publish (an error check failed, or the load
   itself failed). Which checks fired is reported.

Days are simulated: a day's batch lands at about 02:00 the next morning, and the clock
the checks, metrics and profiles read is set to that moment (every simulated day lies
in the past, so the warehouse's own clock sees no data in the future).

    .venv/bin/python bench/suggestions.py                  # 14 days of history, 20 clean days
    .venv/bin/python bench/suggestions.py --history 10 --clean 5   # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import _suggestions_data as data

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work-suggestions"
MODELS = ("staging.customers", "staging.orders", "staging.payments")
FILES = {
    "headgate.yml": "name: shop_bench\nengine:\n  type: duckdb\n  path: warehouse.duckdb\n",
    "sources/shop.yml": (
        "type: files\ntables:\n"
        + "".join(f"  {t}: {{path: data/{t}_*.csv, format: csv}}\n" for t in data.COLUMNS)
    ),
    **{f"models/staging/{t}.sql": f"select * from shop.{t}\n" for t in data.COLUMNS},
}


class Clock:
    """The simulated moment the checks, metrics and profiles read instead of the wall clock."""

    now: datetime | None = None
    threads: int | None = None  # the run's --threads


def install_clock() -> None:
    import headgate.checks.profile as profile
    import headgate.checks.runner as runner
    import headgate.runtime.monitoring as monitoring

    def patched(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, now: datetime | None = None, **kwargs: Any) -> Any:
            return function(*args, now=now or Clock.now, **kwargs)

        return call

    runner.run_checks = patched(runner.run_checks)  # type: ignore[assignment]
    monitoring.collect_metrics = patched(monitoring.collect_metrics)  # type: ignore[assignment]
    profile.profile_table = patched(profile.profile_table)  # type: ignore[assignment]


@dataclass
class Day:
    """One run: did it publish, and which checks did not pass."""

    day: int
    published: bool
    error: str | None = None
    failed: list[str] = field(default_factory=list)  # error checks that failed or errored
    warned: list[str] = field(default_factory=list)
    rejected_rows: int = 0


def run_day(root: Path, shop: data.Shop, day: int, rows: data.Rows, columns: Any = None) -> Day:
    from headgate import Project
    from headgate.console import Console
    from headgate.errors import HeadgateError

    data.write_batch(root, day, rows, columns)
    Clock.now = shop.lands_at(day)
    with Project.load(root, console=Console()) as project:
        try:
            result = project.run(threads=Clock.threads)
        except HeadgateError as exc:
            return Day(day, False, error=exc.render().splitlines()[0])
        outcome = Day(day, result.status != "failed")
        for task in result.tasks:
            if task.status == "failed" and task.error and not task.checks:
                outcome.error = task.error.splitlines()[0]
            for check in task.checks:
                if check.status in ("fail", "error"):
                    outcome.failed.append(f"{check.name}: {check.message}")
                elif check.status == "warn":
                    outcome.warned.append(f"{check.name}: {check.message}")
            if task.kind == "source":
                outcome.rejected_rows += int(task.detail.get("rejected") or 0)
        if outcome.published:
            keep_metrics(project, result)
    return outcome


def keep_metrics(project: Any, result: Any) -> None:
    """What a run does after each build that passed its audit: keep the table's metrics."""
    import inspect

    import headgate.runtime.tasks as tasks
    from headgate.engines import open_engine
    from headgate.runtime.monitoring import record_build_metrics

    if "record_build_metrics" in inspect.getsource(tasks):
        return  # the run keeps them itself
    built = [t for t in result.tasks if t.status == "built" and t.kind == "model"]
    if not built:
        return
    engine = open_engine(project.loaded.config.engine, project.root, read_only=False)
    try:
        for task in built:
            record_build_metrics(
                engine.session(), project.state, task.name, task.physical_table, result.run_id
            )
    finally:
        engine.close()


def suggest(root: Path, shop: data.Shop, day: int) -> dict[str, str]:
    """``headgate checks suggest`` for each model, kept as its options; the YAML by model."""
    from headgate import Project
    from headgate.console import Console

    Clock.now = shop.lands_at(day)
    texts = {}
    with Project.load(root, console=Console()) as project:
        for model in MODELS:
            project.profile(model)
            texts[model] = project.suggest_checks(model)
    for model, text in texts.items():
        (root / "models" / f"{model.replace('.', '/')}.yml").write_text(text)
    return texts


def replay(root: Path, shop: data.Shop, first: int, days: int) -> list[Day]:
    return [run_day(root, shop, day, shop.batch(day)) for day in range(first, first + days)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=14, help="clean days before suggesting")
    parser.add_argument("--clean", type=int, default=20, help="clean days judged after it")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="a run's --threads")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "suggestions.json")
    options = parser.parse_args()
    install_clock()
    Clock.threads = options.threads
    started = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    base = WORK / "base"
    for relative, text in FILES.items():
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_text(text)
    days = options.history + max(options.clean, 1) + 1
    shop = data.Shop(options.seed, data.start_for(days))
    history = replay(base, shop, 0, options.history)
    broken = [d for d in history if not d.published]
    if broken:
        sys.exit(f"a clean day of the history did not publish: {broken[0]}")
    texts = suggest(base, shop, options.history - 1)
    counted = {
        m: sum(1 for line in t.splitlines() if line.lstrip().startswith("- "))
        for m, t in texts.items()
    }
    print(f"history: {options.history} clean days; suggested checks: {counted}")

    after = {k: v for k, v in asdict(shop).items()}
    clean_root = WORK / "clean"
    shutil.copytree(base, clean_root)
    clean = replay(clean_root, shop, options.history, options.clean)
    alarms = [d for d in clean if not d.published]
    warned = [d for d in clean if d.warned]
    print(
        f"clean days: {len(clean)}; refused to publish: {len(alarms)}; with warnings: {len(warned)}"
    )
    for day in alarms + [d for d in warned if d not in alarms]:
        print(f"  day {day.day}: {day.error or ''} {day.failed[:3]} {day.warned[:3]}")

    trials = []
    for defect in data.DEFECTS:
        trial_shop = data.Shop(**{**after, "order_amounts": dict(after["order_amounts"])})
        root = WORK / defect.kind.replace(" ", "_")
        shutil.copytree(base, root)
        rows = trial_shop.batch(options.history)
        rng = random.Random(options.seed * 31 + len(trials))
        columns = defect.plant(rows, rng, trial_shop, options.history)
        outcome = run_day(root, trial_shop, options.history, rows, columns)
        caught = not outcome.published
        trials.append(
            {"kind": defect.kind, "planted": defect.what, "caught": caught, **asdict(outcome)}
        )
        fired = ([outcome.error] if outcome.error else []) + [
            f.split(":")[0] for f in outcome.failed
        ]
        shown = "; ".join(fired) or "-"
        quarantined = (
            f" ({outcome.rejected_rows} rows quarantined)" if outcome.rejected_rows else ""
        )
        print(f"  {defect.kind:<22} {'CAUGHT' if caught else 'missed'}  {shown}{quarantined}")

    caught = sum(1 for t in trials if t["caught"])
    summary = {
        "history_days": options.history,
        "threads": options.threads,
        "clean_days": len(clean),
        "false_alarm_rate": len(alarms) / len(clean) if clean else None,
        "warning_rate": len(warned) / len(clean) if clean else None,
        "defect_kinds": len(trials),
        "caught": caught,
        "caught_rate": caught / len(trials),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "summary": summary,
        "suggested": texts,
        "clean": [asdict(d) for d in clean],
        "trials": trials,
    }
    options.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
