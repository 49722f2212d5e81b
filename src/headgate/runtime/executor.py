"""Executing a graph of tasks in parallel, in dependency order.

A task starts when all its upstream tasks succeeded; when one fails, everything
downstream of it is marked ``upstream_failed`` without running, and the rest
of the graph goes on. A task whose error is marked transient (a server that did
not answer, a lock that timed out) is tried again after a growing pause; a terminal
error (a bad query, a failed check) fails it at once. A task running longer than its
timeout is interrupted and fails.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from headgate.errors import HeadgateError
from headgate.runtime.results import FAILED, UPSTREAM_FAILED, TaskResult


class TaskTimeout(HeadgateError):
    """A task ran longer than the project's ``task_timeout`` and was interrupted."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a task whose error is transient is tried again: ``attempts`` in all."""

    attempts: int = 3
    backoff: float = 1.0  # seconds before the 2nd attempt, doubled before each next one
    timeout: float | None = None  # seconds a task may run; None: no limit

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        >>> RetryPolicy(backoff=0.5).pause(1), RetryPolicy(backoff=0.5).pause(3)
        (0.5, 2.0)
        """
        return self.backoff * 2 ** (attempt - 1)


@dataclass
class Task:
    name: str
    upstream: list[str]  # names of other tasks in the same graph
    run: Callable[[], TaskResult]
    failed: Callable[[str, str], TaskResult]  # (status, error) -> result, for tasks that cannot run
    interrupt: Callable[[], None] = lambda: None  # stops the task's running query (a timeout)
    attempts: list[str] = field(default_factory=list)  # errors of attempts that were retried


def execute(
    tasks: dict[str, Task],
    *,
    threads: int,
    on_start: Callable[[str], None],
    on_finish: Callable[[TaskResult], None],
    policy: RetryPolicy | None = None,
) -> dict[str, TaskResult]:
    """Run ``tasks`` (given in dependency order) with at most ``threads`` at once."""
    policy = policy or RetryPolicy()
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
                # each task sees the run's context (the environment's secrets among it)
                context = contextvars.copy_context()
                running[pool.submit(context.run, guarded, tasks[name], policy)] = name
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


def guarded(task: Task, policy: RetryPolicy) -> TaskResult:
    """One task tried as ``policy`` says (in the calling thread): its transient errors
    tried again after a growing pause, each attempt stopped past the policy's timeout;
    whatever it raises becomes its failed result."""
    for attempt in range(1, max(1, policy.attempts) + 1):
        try:
            return _within_timeout(task, policy.timeout)
        except HeadgateError as exc:
            if not exc.transient or attempt >= policy.attempts:
                return task.failed(FAILED, _with_attempts(exc.render(), task.attempts))
            task.attempts.append(exc.render())
            time.sleep(policy.pause(attempt))
        except Exception as exc:  # a task's own error becomes its result, never the run's crash
            return task.failed(FAILED, f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable: the last attempt returns")


def _within_timeout(task: Task, timeout: float | None) -> TaskResult:
    if timeout is None:
        return task.run()
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        task.interrupt()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        return task.run()
    except Exception as exc:
        if expired.is_set():
            raise TaskTimeout(
                f"{task.name} ran longer than task_timeout ({timeout:g} s) and was stopped",
                hint="raise task_timeout in headgate.yml, or make the model cheaper",
            ) from exc
        raise
    finally:
        timer.cancel()


def _with_attempts(error: str, earlier: list[str]) -> str:
    if not earlier:
        return error
    return f"{error}\n  (attempt {len(earlier) + 1}; earlier attempts: {'; '.join(earlier)})"


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
