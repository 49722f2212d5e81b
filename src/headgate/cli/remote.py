"""The command line against a hub (``--hub URL`` or ``HEADGATE_HUB``).

``run``, ``plan``, ``deploy``, ``rollback``, ``query``, ``status``, ``runs`` and
``failures`` are carried out by the hub, so the team shares one state and one
warehouse; what they print is rendered from the hub's JSON by the same renderers as a
local command's, so it reads the same. Standard library HTTP only: nothing to install.
The hub signs each command in with the API token of ``--token`` or ``HEADGATE_TOKEN``,
sent as ``Authorization: Bearer``; a refusal (401, 403) prints what the hub said.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import typer

from headgate.cli.common import OPTIONS, err, out, print_json
from headgate.errors import HeadgateError

if TYPE_CHECKING:
    import pyarrow as pa

API = "/api/v1"
TIMEOUT = 600.0


def _url(path: str, query: dict[str, Any] | None = None) -> str:
    base = (OPTIONS.hub or "").rstrip("/")
    given = {k: v for k, v in (query or {}).items() if v is not None}
    return f"{base}{API}{path}" + (f"?{urllib.parse.urlencode(given, doseq=True)}" if given else "")


def _open(
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    accept: str = "application/json",
) -> Any:
    data = json.dumps(body, default=str).encode() if body is not None else None
    request = urllib.request.Request(_url(path, query), data=data, method=method)
    request.add_header("Accept", accept)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if OPTIONS.token:
        request.add_header("Authorization", f"Bearer {OPTIONS.token}")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise _problem(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HeadgateError(
            f"cannot reach the hub at {OPTIONS.hub}: {reason}",
            hint="start it with `headgate serve`, or point --hub / HEADGATE_HUB at it",
        ) from None


def _problem(exc: urllib.error.HTTPError) -> HeadgateError:
    """The hub's problem document as the error the command prints (the CLI's own text)."""
    try:
        detail = json.loads(exc.read().decode()).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    if exc.code == 401 and not OPTIONS.token:
        return HeadgateError(
            str(detail or "the hub asks who you are"),
            hint="create a token with `headgate tokens create` and pass it as --token or "
            "HEADGATE_TOKEN",
        )
    return HeadgateError(str(detail or f"the hub answered {exc.code} {exc.reason}"))


def _json(method: str, path: str, **kwargs: Any) -> Any:
    with _open(method, path, **kwargs) as answer:
        return json.loads(answer.read().decode())


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _record(kind: type, data: dict[str, Any], **dates: Any) -> Any:
    """A record dataclass from its JSON (unknown keys dropped, dates parsed)."""
    known = {f.name for f in fields(kind)}
    values = {k: v for k, v in data.items() if k in known}
    for name in ("started_at", "ended_at", "published_at", "created_at", "updated_at"):
        if name in values and isinstance(values[name], str):
            values[name] = _when(values[name])
    return kind(**values, **dates)


def _run_record(data: dict[str, Any]) -> Any:
    from headgate.state.records import RunRecord, TaskRecord

    tasks = [_record(TaskRecord, t) for t in data.get("tasks", [])]
    return _record(RunRecord, {**data, "tasks": []}) if not tasks else _with_tasks(data, tasks)


def _with_tasks(data: dict[str, Any], tasks: list[Any]) -> Any:
    from headgate.state.records import RunRecord

    record = _record(RunRecord, {**data, "tasks": []})
    record.tasks = tasks
    return record


# --- reading ---------------------------------------------------------------------------


def hub_status(env: str | None, *, as_json: bool) -> None:
    from headgate.cli.render import render_status
    from headgate.facade import EnvironmentStatus, ModelStatus

    environment = env or _json("GET", "/project")["default_environment"]
    data = _json("GET", f"/environments/{environment}/status")
    if as_json:
        print_json(data)
        return
    models = [_record(ModelStatus, m) for m in data["models"]]
    last = _run_record(data["last_run"]) if data.get("last_run") else None
    render_status(out, EnvironmentStatus(data["environment"], models, last, data["counts"]))


def hub_runs(
    run_id: int | None, env: str | None, limit: int, *, as_json: bool, task: str | None = None
) -> None:
    from headgate.cli.common import jsonable
    from headgate.cli.render import render_run_detail, render_runs, render_task_output

    if run_id is not None:
        data = _json("GET", f"/runs/{run_id}", query={"specs": "true"} if as_json else None)
        data.pop("job", None)
        record = _run_record(data)
        if task is not None and not as_json:
            render_task_output(out, record, task, None, whole=_step_output(run_id, task))
            return
        print_json(jsonable(record)) if as_json else render_run_detail(out, record)
        return
    page = _json("GET", "/runs", query={"env": env, "limit": limit})
    records = [_run_record(item) for item in page["items"]]
    if as_json:
        print_json({"runs": [jsonable(r) for r in records]})
    else:
        render_runs(out, records)


def _step_output(run_id: int, name: str) -> str | None:
    """A step's whole output in the run as the hub keeps it (None: not a step the hub ran)."""
    lowered = name.strip().lower()
    if not lowered.startswith("steps."):
        return None
    path = f"/steps/{urllib.parse.quote(lowered, safe='')}/runs/{run_id}/output"
    try:
        with _open("GET", path, accept="text/plain") as answer:
            text: str = answer.read().decode("utf-8", errors="replace")
            return text
    except HeadgateError:
        return None  # ran on an agent, or not in this run: the kept lines are shown


def hub_failures(check: str, *, as_json: bool) -> None:
    from headgate.cli.render import render_failures
    from headgate.state.records import CheckResultRecord

    data = _json("GET", f"/checks/{urllib.parse.quote(check, safe='')}")
    if as_json:
        print_json(data)
        return
    for record in data.get("results", [data]):
        render_failures(out, _record(CheckResultRecord, record))


@contextmanager
def hub_query_batches(
    sql: str, env: str | None, limit: int | None, *, flight: bool = False
) -> Iterator[tuple[list[str], Iterator[pa.RecordBatch]]]:
    """The result's column names and its record batches as they arrive from the hub (an
    Arrow stream over HTTP, or its Arrow Flight server's): one batch in memory at a time."""
    if flight:
        with _flight_batches(sql, env, limit) as found:
            yield found
        return
    import pyarrow as pa

    body = {"sql": sql, "environment": env, "limit": limit, "format": "arrow"}
    with _open("POST", "/query", body=body, accept="application/vnd.apache.arrow.stream") as answer:
        try:
            reader = pa.ipc.open_stream(answer)
        except (pa.ArrowException, OSError) as exc:
            raise _cut_short(exc) from None
        yield reader.schema.names, _read_on(reader, (pa.ArrowException, OSError), _cut_short)


@contextmanager
def _flight_batches(
    sql: str, env: str | None, limit: int | None
) -> Iterator[tuple[list[str], Iterator[pa.RecordBatch]]]:
    """The result read over the Arrow Flight port the hub gives in GET /project."""
    import pyarrow.flight as flight

    port = _json("GET", "/project").get("flight_port")
    if not port:
        raise HeadgateError(
            f"the hub at {OPTIONS.hub} serves no Arrow Flight",
            hint="start it with `headgate serve --flight-port 8815`, or leave out --flight",
        )
    host = urllib.parse.urlsplit(OPTIONS.hub or "").hostname or "127.0.0.1"
    where = f"[{host}]" if ":" in host else host
    ticket = json.dumps({"sql": sql, "environment": env, "limit": limit, "timeout": TIMEOUT})
    headers = [(b"authorization", f"Bearer {OPTIONS.token}".encode())] if OPTIONS.token else []
    with flight.connect(f"grpc://{where}:{port}") as client:
        try:
            options = flight.FlightCallOptions(headers=headers)
            reader = client.do_get(flight.Ticket(ticket.encode()), options)
            names = reader.schema.names
        except flight.FlightError as exc:
            raise _flight_problem(exc) from None
        chunks = _read_on(reader, (flight.FlightError,), _flight_problem)
        yield names, (chunk.data for chunk in chunks)


def _read_on(
    reader: Any,
    failures: tuple[type[Exception], ...],
    problem: Callable[[Exception], HeadgateError],
) -> Iterator[Any]:
    """The reader's batches (Flight: chunks), a failure part way as the CLI's own error."""
    try:
        yield from reader
    except failures as exc:
        raise problem(exc) from None


def _cut_short(exc: Exception) -> HeadgateError:
    return HeadgateError(
        f"the hub's answer broke off: {exc}",
        hint="run the query again; if it keeps failing, see the hub's log",
    )


def _flight_problem(exc: Exception) -> HeadgateError:
    """The hub's text of a Flight error (gRPC's own details after it left out)."""
    text = str(exc).split(". Detail: ")[0].split(". gRPC client debug context")[0]
    message, _, hint = text.partition("\n  hint: ")
    return HeadgateError(message.strip() or "the hub's Arrow Flight call failed", hint=hint or None)


def hub_plan(
    env: str | None,
    select: str | None,
    revision: str | None,
    *,
    markdown: bool,
    as_json: bool,
    fail: bool,
) -> None:
    from headgate.cli.review import render_review

    query = {"env": env, "select": select, "revision": revision}
    if markdown and not as_json:
        with _open("GET", "/plans", query={**query, "format": "markdown"}) as answer:
            out.print(answer.read().decode(), markup=False, highlight=False)
        review = _json("GET", "/plans", query=query) if fail else {"models": []}
    else:
        review = _json("GET", "/plans", query=query)
        print_json(review) if as_json else render_review(review)
    breaking = [
        m
        for m in review["models"]
        if m["breaking"] and m["change"] in ("direct", "indirect", "removed")
    ]
    if fail and breaking:
        raise typer.Exit(3)


# --- writing ---------------------------------------------------------------------------


def hub_deploy(source: str, target: str, expect_state: str | None) -> dict[str, Any]:
    body = {"from": source, "to": target, "expect_state": expect_state}
    return _finished(_json("POST", "/deployments", body=body, query={"wait": 600}))


def hub_rollback(environment: str, to: int | None) -> dict[str, Any]:
    body = {"to": to}
    return _finished(
        _json("POST", f"/environments/{environment}/rollback", body=body, query={"wait": 600})
    )


def _finished(answer: dict[str, Any]) -> dict[str, Any]:
    """A change's result; one still queued after the wait is followed until it ends."""
    if "job_id" not in answer or "status" not in answer:
        return answer
    job = answer
    for event in _events(f"/jobs/{answer['job_id']}/events"):
        if event["event"] == "end":
            job = event["data"]
    if job.get("status") != "done":
        raise HeadgateError(job.get("error") or "the hub did not finish the change")
    result: dict[str, Any] = job["result"]
    return result


def hub_run(request: dict[str, Any], *, as_json: bool) -> None:
    """Start a run on the hub and show it as a local run shows itself, live."""
    from headgate.cli.render import QuietConsole, RichConsole

    console = QuietConsole() if as_json else RichConsole(out)
    started = _json("POST", "/runs", body={k: v for k, v in request.items() if v is not None})
    run_id = started["run_id"]
    result: dict[str, Any] | None = None
    try:
        for event in _events(f"/runs/{run_id}/events"):
            kind, data = event["event"], event["data"]
            if kind == "plan":
                work = [SimpleNamespace(**w) for w in data["work"]]
                console.plan_ready(
                    SimpleNamespace(  # type: ignore[arg-type]
                        environment=data["environment"], work=work, nodes=range(data["total"])
                    )
                )
            elif kind == "task_progress":
                console.task_progress(data["name"], data["rows"])
            elif kind == "task_finished":
                console.task_finished(_task(data))
            elif kind == "run_finished":
                result = data
                console.run_finished(_run_result(data))
            elif kind == "log":
                {"warning": console.warn, "waiting": console.waiting}.get(
                    data["level"], console.info
                )(data["text"])
            elif kind == "error":
                raise HeadgateError(data["error"])
    except KeyboardInterrupt:
        _json("POST", f"/runs/{run_id}/cancel")
        err.print(f"[yellow]run {run_id} cancelled on the hub[/]")
        raise
    if result is None:
        raise HeadgateError(f"run {run_id} ended without a result", hint=f"headgate runs {run_id}")
    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("event", "at", "samples")})
    if result["status"] == "failed":
        raise typer.Exit(1)


def _task(data: dict[str, Any], samples: set[str] | frozenset[str] = frozenset()) -> Any:
    from headgate.runtime.results import TaskResult

    checks = [
        SimpleNamespace(**c, sample=[{}] if c["name"] in samples else [])
        for c in data.get("checks", [])
    ]
    return TaskResult(
        name=data["name"],
        kind=data["kind"],
        status=data["status"],
        fingerprint=data.get("fingerprint", ""),
        physical_table="",
        action=data.get("action", ""),
        rows=data.get("rows"),
        seconds=data.get("seconds", 0.0),
        error=data.get("error"),
        detail=data.get("detail", {}),
        checks=checks,
    )


def _run_result(data: dict[str, Any]) -> Any:
    from headgate.runtime.results import RunResult

    samples = set(data.get("samples", []))
    deliveries = [SimpleNamespace(**d) for d in data.get("deliveries", [])]
    result = RunResult(
        run_id=data["run_id"],
        environment=data["environment"],
        status=data["status"],
        published=data["published"],
        tasks=[_task(t, samples) for t in data["models"]],
        seconds=data["seconds"],
        message=data["message"],
        published_models=data.get("published_models", 0),
        deliveries=deliveries,
    )
    return result


def _events(path: str) -> Iterator[dict[str, Any]]:
    """Server-sent events as ``{"event", "data"}``, until the stream ends."""
    with _open("GET", path, accept="text/event-stream") as stream:
        kind, data = "message", ""
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif not line and data:
                yield {"event": kind, "data": json.loads(data)}
                if kind == "end":
                    return
                kind, data = "message", ""
