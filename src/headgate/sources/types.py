"""One interface for every kind of source: what its file declares and how a load is written.

A source type is registered under the name a source file gives in ``type:``. It names
its configuration model (validated when the project loads) and, for sources read from
outside the project at each run, how a load writes a new segment (``plan/versions.py``):
a table of its own, never one a reader may see. A new kind of source is one new module
listing it in ``TYPES`` (or a plugin calling :func:`register`); nothing else changes.

>>> sorted(source_types())
['files', 'http', 'mysql', 'nats', 'postgres', 'redis_stream', 'sqlite']
>>> source_type("postgres").external, source_type("files").external
(True, False)
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.engines.base import EngineSession
    from headgate.project.config import StrictModel
    from headgate.project.loader import SourceTable

BUILT_IN = (
    "headgate.sources.files_type",
    "headgate.sources.database_type",
    "headgate.sources.http_type",
    "headgate.sources.stream_type",
)


@dataclass
class LoadRequest:
    """One load: the source, the new segment to write, and what the previous load left."""

    session: EngineSession
    source: SourceTable
    segment: str  # the new table to create
    after: dict[str, Any] | None = None  # the previous segment's encoded high-water mark
    seen: list[str] = field(default_factory=list)  # segments a redelivered message may be in
    root: Any = None  # the project folder
    progress: Callable[[int], None] | None = None  # rows read so far, after each batch
    on_commit: Callable[[], None] | None = None  # after a stream batch commits, before its ack


@dataclass
class LoadedSegment:
    rows: int
    cursor: dict[str, Any] | None = None  # the high-water mark after this load, encoded
    detail: dict[str, Any] = field(default_factory=dict)


class SourceType:
    """A kind of source: the model its file is validated with, and whether it is read at runs."""

    name: ClassVar[str]
    config: ClassVar[type[StrictModel]]
    external: ClassVar[bool] = True  # read from outside the project at each run

    def appends(self, table: Any) -> bool:
        """Whether a load adds to what earlier loads brought (else it replaces them)."""
        return False


class LoadingSourceType(SourceType, ABC):
    """A source read from outside the project at each run, each load into a new segment."""

    @abstractmethod
    def load(self, request: LoadRequest) -> LoadedSegment:
        """Write what the source has now (past ``request.after``) into ``request.segment``."""


_REGISTRY: dict[str, SourceType] = {}  # types registered by plugins


def register(kind: SourceType) -> SourceType:
    """Add a source type (a plugin's); a built-in module lists its own in ``TYPES``."""
    _REGISTRY[kind.name] = kind
    return kind


def source_types() -> dict[str, SourceType]:
    """Every source type by name: the built-in modules' ``TYPES``, then registered ones."""
    found: dict[str, SourceType] = {}
    for module in BUILT_IN:
        for kind in importlib.import_module(module).TYPES:
            found[kind.name] = kind
    return {**found, **_REGISTRY}


def source_type(name: str) -> SourceType:
    found = source_types().get(name)
    if found is None:
        raise KeyError(f"no source type named {name!r}")
    return found


def loading_source_type(name: str) -> LoadingSourceType:
    """The type of a source read at each run; files are loaded by ``sources/files.py``."""
    found = source_type(name)
    if not isinstance(found, LoadingSourceType):
        raise TypeError(f"{name} sources are project files, loaded once each, not at every run")
    return found


def reporting(batches: Iterable[Any], progress: Callable[[int], None] | None) -> Iterable[Any]:
    """``batches`` unchanged, telling ``progress`` the rows passed on after each one."""
    if progress is None:
        return batches

    def passed_on() -> Iterator[Any]:
        rows = 0
        for batch in batches:
            yield batch
            rows += batch.num_rows
            progress(rows)

    return passed_on()


def create_segment(
    session: EngineSession, target: str, batches: Iterable[Any], schema: pa.Schema | None = None
) -> int:
    """A new table holding all the batches, created in one statement.

    With a known schema (a database read) the batches stream into the engine as they
    arrive; otherwise (API pages, whose columns may differ) they are combined first.
    """
    import pyarrow as pa

    if schema is not None:
        reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
        return session.create_table_from_arrow(target, reader)
    collected = [
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches
    ]
    table = pa.concat_tables(collected, promote_options="permissive") if collected else pa.table({})
    return session.create_table_from_arrow(target, table)
