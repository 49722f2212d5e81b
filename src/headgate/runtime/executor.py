"""Executing a graph of tasks in parallel, in dependency order.

A task starts when all its upstream tasks succeeded; when one fails, everything
downstream of it is marked ``upstream_failed`` without running, and the rest
of the graph goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from headgate.errors import HeadgateError
from headgate.runtime.results import FAILED, UPSTREAM_FAILED, TaskResult


@dataclass
class Task:
    name: str
    upstream: list[str]  # names of other tasks in the same graph
    run: Callable[[], TaskResult]
    failed: Callable[[str, str], TaskResult]  # (status, error) -> result, for tasks that cannot run


def execute(
    tasks: dict[str, Task],
    *,
    threads: int,
    on_start: Callable[[str], None],
    on_finish: Callable[[TaskResult], None],
) -> dict[str, TaskResult]:
    """Run ``tasks`` (given in dependency order) with at most ``threads`` at once."""
    waiting = {name: {u for u in task.upstream if u in tasks} for name, task in tasks.items()}
    children: dict[str, list[str]] = {name: [] for name in tasks}
    for name, parents in waiting.items():
        for parent in parents:
            children[parent].append(name)
    order = {name: i for i, name in enumerate(tasks)}
    results: dict[str, TaskResult] = {}
    ready = [name for name, parents in waiting.items() if not parents]
    running: dict[Future[TaskResult], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="headgate") as pool:
        while ready or running:
            ready.sort(key=order.__getitem__, reverse=True)
            while ready and len(running) < max(1, threads):
                name = ready.pop()
                on_start(name)
                running[pool.submit(_guarded, tasks[name])] = name
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                result = future.result()
                results[name] = result
                on_finish(result)
                if result.status == FAILED or result.status == UPSTREAM_FAILED:
                    _fail_downstream(name, tasks, children, results, on_finish)
                    continue
                for child in children[name]:
                    waiting[child].discard(name)
                    if not waiting[child] and child not in results:
                        ready.append(child)
    return results


def _guarded(task: Task) -> TaskResult:
    try:
        return task.run()
    except HeadgateError as exc:
        return task.failed(FAILED, exc.render())
    except Exception as exc:  # a task's own error becomes its result, never the run's crash
        return task.failed(FAILED, f"{type(exc).__name__}: {exc}")


def _fail_downstream(
    name: str,
    tasks: dict[str, Task],
    children: dict[str, list[str]],
    results: dict[str, TaskResult],
    on_finish: Callable[[TaskResult], None],
) -> None:
    stack = list(children[name])
    while stack:
        child = stack.pop()
        if child in results:
            continue
        result = tasks[child].failed(UPSTREAM_FAILED, f"upstream {name} failed")
        results[child] = result
        on_finish(result)
        stack.extend(children[child])
