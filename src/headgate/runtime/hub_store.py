"""The metadata store as an agent reaches it: through the hub, over HTTP, fenced by its lease.

An agent outside the hub's network never opens the project's ``state:`` store. What a
task reads comes with the task (the run's plan once per run, the physical records of the
task's table and of its upstream tables, the specs its upstream tasks ended with) or is
asked of the hub's read endpoint; what it writes is kept in the agent and sent with the
lease's fencing token: with the task's result, or at once for the few writes that must
not wait (a stream's load before it is acknowledged, a step's end). The hub applies them
only while the lease is held and only for the run the lease belongs to.

Only the methods named in :data:`READS` and :data:`WRITES` cross the wire, their
arguments and answers encoded explicitly (:func:`encode`, :func:`decode`: the records of
:mod:`headgate.state.records`, datetimes, JSON values; never pickle). Any other method a
task asks of the store fails with a :class:`HeadgateError` naming it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from headgate.errors import HeadgateError
from headgate.state import records

RECORDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        records.TaskRecord,
        records.PhysicalRecord,
        records.EnvModel,
        records.Interval,
        records.CheckResultRecord,
        records.ModelVersion,
    )
}
# what a task may read, and how many positional arguments each takes at most
READS: dict[str, int] = {
    "physical_named": 2,
    "env_models": 1,
    "metric_history": 3,
    "previous_row_count": 1,
    "intervals": 1,
    "source_cursor": 1,
    "model_versions": 1,
    "run_plan_parts": 1,
    "kept_chart": 2,
}
WRITES: dict[str, int] = {
    "register_physical": 1,
    "record_tasks": 1,
    "record_model_versions": 1,
    "record_many_metrics": 1,
    "record_metrics": 4,
    "record_check_results": 2,
    "record_loaded_files": 2,
    "add_interval": 3,
    "set_source_cursor": 2,
    "keep_chart": 4,
}
Write = tuple[str, list[Any]]


# --- the wire format --------------------------------------------------------------------


def encode(value: Any) -> Any:
    """``value`` as JSON: records and datetimes tagged, tuples as lists."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if RECORDS.get(name) is not type(value):
            raise HeadgateError(f"the agent cannot send a {name} to the hub")
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$record": name, "fields": fields}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"$obj": {k: encode(v) for k, v in value.items()}}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple | set):
        return [encode(item) for item in value]
    raise HeadgateError(f"the agent cannot send a {type(value).__name__} to the hub")


def decode(value: Any) -> Any:
    """What :func:`encode` made, back; an unknown tag is refused."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$dt" in value:
        return datetime.fromisoformat(str(value["$dt"]))
    if "$obj" in value:
        return {str(k): decode(v) for k, v in dict(value["$obj"]).items()}
    if "$map" in value:
        return {_key(decode(k)): decode(v) for k, v in value["$map"]}
    if "$record" in value:
        cls = RECORDS.get(str(value["$record"]))
        if cls is None:
            raise HeadgateError(f"'{value['$record']}' is not a record the store keeps")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: decode(v) for k, v in dict(value["fields"]).items() if k in names}
        if cls is records.ModelVersion:
            fields["columns"] = [list(c) for c in fields.get("columns") or []]
        return cls(**fields)
    raise HeadgateError("a value sent to the store carries no known tag")


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def decode_call(method: str, args: list[Any], allowed: dict[str, int]) -> list[Any]:
    """The arguments of a whitelisted call; a method not in ``allowed`` is named."""
    if method not in allowed:
        raise HeadgateError(
            f"the store method '{method}' cannot be called through the hub",
            hint=f"agents may call: {', '.join(sorted(allowed))}",
        )
    if len(args) > allowed[method]:
        raise HeadgateError(f"the store method '{method}' takes {allowed[method]} argument(s)")
    decoded: list[Any] = decode(args)
    return decoded


def positional(method: str, args: tuple[Any, ...], named: dict[str, Any]) -> list[Any]:
    """A store call's arguments, those passed by name put in their place (the wire
    carries positions only)."""
    if not named:
        return list(args)
    import inspect

    from headgate.state.store import StateStore

    bound = inspect.signature(getattr(StateStore, method)).bind(None, *args, **named)
    bound.apply_defaults()
    if bound.kwargs:
        raise HeadgateError(
            f"the store method '{method}' takes {', '.join(bound.kwargs)} by name, which "
            "cannot be sent to the hub"
        )
    return list(bound.args[1:])


# --- the registry of physical tables ----------------------------------------------------


class PhysicalRegistry(dict[str, records.PhysicalRecord]):
    """Physical records by name, fetched when first asked for instead of all at once.

    Holds what was handed in (the records a task needs, fetched with it); a name it does
    not hold is fetched with ``fetch`` once (a miss is remembered; ``absent``: names known
    to have none). Iterating it walks only
    the records it holds: those of the task's model and of its upstream tables.
    """

    def __init__(
        self,
        held: dict[str, records.PhysicalRecord],
        fetch: Callable[[list[str]], dict[str, records.PhysicalRecord]],
        absent: Iterable[str] = (),
    ) -> None:
        super().__init__(held)
        self._fetch = fetch
        self._missing: set[str] = set(absent) - set(held)  # asked for already: none

    def _load(self, name: str) -> bool:
        if dict.__contains__(self, name):
            return True
        if name in self._missing:
            return False
        found = self._fetch([name])
        self.update(found)
        if name not in found:
            self._missing.add(name)
        return name in found

    def get(self, name: str, default: Any = None) -> Any:
        return dict.__getitem__(self, name) if self._load(name) else default

    def __getitem__(self, name: str) -> records.PhysicalRecord:
        if not self._load(name):
            raise KeyError(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._load(name)

    def __setitem__(self, name: str, record: records.PhysicalRecord) -> None:
        self._missing.discard(name)
        dict.__setitem__(self, name, record)


def task_tables(plan: Any, name: str, upstream: dict[str, Any] | None = None) -> list[str]:
    """The physical tables one task of ``plan`` reads records of: its own (as planned and
    as its upstream's versions name it) and its upstream's (``upstream``: nodes as their
    tasks ended, over the plan's)."""
    from headgate.plan.versions import derived_name

    ended = upstream or {}
    node = plan.nodes[name]
    nodes = [ended.get(u) or plan.nodes.get(u) for u in node.upstream]
    physical = [n.physical_table for n in nodes if n is not None]
    names = [node.physical_table, *physical]
    if node.versioned and node.base_table and node.growth is None and not node.replace:
        names.append(derived_name(node.base_table, physical))
    return sorted(set(names))


def ended_node(status: str, spec: dict[str, Any]) -> Any:
    """A task's node as its spec says it ended (one done is reused by the run's others)."""
    from headgate.runtime.results import BUILT, SKIPPED
    from headgate.runtime.specs import node_from_spec

    node = node_from_spec(spec)
    if status in (BUILT, SKIPPED):
        node.action, node.reason, node.exists = "reuse", "done by this run already", True
    return node


def plan_from_parts(data: dict[str, Any], tasks: Iterable[tuple[str, Any]]) -> Any:
    """A run's plan from its stored form and its tasks' (status, spec), as the run service
    loads it (runtime/service.py)."""
    from headgate.runtime.specs import node_from_spec
    from headgate.runtime.specs import plan_from_spec as assemble

    nodes = {name: node_from_spec(spec) for name, spec in data.get("nodes", {}).items()}
    for status, spec in tasks:
        if spec is not None:
            node = ended_node(status, spec)
            nodes[node.name] = node
    return assemble(data, nodes)


# --- the store -----------------------------------------------------------------------------


class HubStore:
    """The store for one task: reads asked of the hub, writes sent fenced with its lease.

    ``read(method, args)`` and ``send(writes)`` are the transport's calls; writes made
    through :meth:`batched` wait in :attr:`pending` until the transport sends them with
    the task's result (or its next heartbeat); writes made on the store itself are sent
    at once (they must be at the hub before the task goes on).
    """

    def __init__(
        self,
        read: Callable[[str, list[Any]], Any],
        send: Callable[[list[Write]], None],
        *,
        answers: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        self._read = read
        self._send = send
        self._answers = dict(answers or {})  # (method, encoded args) -> answer, handed in
        self._pending: list[Write] = []
        self._guard = threading.Lock()

    def batched(self) -> BatchedWrites:
        return BatchedWrites(self)

    def take_pending(self) -> list[Write]:
        with self._guard:
            taken, self._pending = self._pending, []
        return taken

    def queue(self, method: str, args: list[Any]) -> None:
        with self._guard:
            self._pending.append((method, encode(args)))

    def write_now(self, method: str, args: list[Any]) -> None:
        """Send what is pending, then this write, in one fenced call."""
        self._send([*self.take_pending(), (method, encode(args))])

    def ask(self, method: str, args: list[Any]) -> Any:
        key = (method, repr(encode(args)))
        if key in self._answers:
            return self._answers[key]
        return self._read(method, encode(args))

    def physical_named(
        self, names: list[str], model: str | None = None
    ) -> dict[str, records.PhysicalRecord]:
        found: dict[str, records.PhysicalRecord] = self.ask("physical_named", [names, model])
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in READS:
            return lambda *args, **named: self.ask(name, positional(name, args, named))
        if name in WRITES:
            return lambda *args, **named: self.write_now(name, positional(name, args, named))
        what = "its database connection" if name.startswith("_") else f"'{name}'"
        raise HeadgateError(
            f"an agent's task asked the metadata store for {what} ('{name}'), which agents "
            "cannot reach through the hub",
            hint="agents read and write the store only through the hub's agent API; "
            f"what they may read: {', '.join(sorted(READS))}",
        )

    def close(self) -> None:
        """Nothing to let go of: the transport owns the connection."""


class BatchedWrites:
    """The store as the Recorder writes to it: writes wait to go with the task's result."""

    def __init__(self, store: HubStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in WRITES:
            return lambda *args, **named: self._store.queue(name, positional(name, args, named))
        return getattr(self._store, name)


def answers_of(prefetched: Iterable[tuple[str, list[Any], Any]]) -> dict[tuple[str, str], Any]:
    """Reads handed in with a task, keyed as :meth:`HubStore.ask` looks them up."""
    return {(method, repr(args)): decode(value) for method, args, value in prefetched}
