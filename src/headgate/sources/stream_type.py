"""Streams (NATS JetStream, Redis Streams): micro-batches committed into a new segment.

Each batch is committed into the segment, recorded in the source's log, then
acknowledged, so a crash loses nothing; a message delivered again (a crash between
commit and ack) is recognised by its id in this segment or the previous one and kept once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headgate.engines.base import EngineSession, quote
from headgate.project.config import StrictModel
from headgate.sources.streams import STREAM_SOURCE_CONFIGS
from headgate.sources.types import LoadedSegment, LoadingSourceType, LoadRequest

if TYPE_CHECKING:
    import pyarrow as pa


class StreamSourceType(LoadingSourceType):
    def __init__(self, name: str, config: type[StrictModel]) -> None:
        self.name = name  # type: ignore[misc]
        self.config = config  # type: ignore[misc]

    def appends(self, table: Any) -> bool:
        return True

    def load(self, request: LoadRequest) -> LoadedSegment:
        return _load_stream(request)


def _load_stream(request: LoadRequest) -> LoadedSegment:
    """Micro-batches until the stream is idle; each committed, logged, then acknowledged.

    A batch's rows are inserted only if their message id is in neither this segment nor
    the previous one, in the same transaction as its rejects, so a crash between commit
    and ack (the messages come again) neither loses nor doubles a row.
    """
    from headgate.sources.streams import read_stream

    session, source, segment = request.session, request.source, request.segment
    root, seen, on_commit = request.root, request.seen, request.on_commit
    loaded = rejected = batches = 0
    with read_stream(
        source.source_config, source.table, project_dir=root, source_name=source.source
    ) as read:
        for batch in read:
            try:
                with session.transaction():
                    loaded += _insert_new(session, segment, batch.table, seen)
                    rejects = batch.rejects_table()
                    if rejects.num_rows:
                        rejected += _insert_new(session, f"{segment}__rejects", rejects, [])
                if on_commit is not None:
                    on_commit()
            except BaseException:
                batch.nack()
                raise
            batch.ack()
            batches += 1
    if not session.table_exists(segment):  # an empty stream still publishes an (empty) table
        session.execute(
            f"CREATE TABLE {quote(segment)} (_message_id VARCHAR, _received_at TIMESTAMPTZ)"
        )
    detail = {"batches": batches, "loaded": loaded, "rejected": rejected}
    return LoadedSegment(loaded + rejected, detail=detail)


def _insert_new(session: EngineSession, target: str, data: pa.Table, seen: list[str]) -> int:
    """Rows whose ``_message_id`` is not in ``target`` nor ``seen``; new columns are added first."""
    staged = f"{target}__incoming"
    session.create_table_from_arrow(staged, data)
    try:
        if not session.table_exists(target):
            session.execute(
                f"CREATE TABLE {quote(target)} AS SELECT * FROM {quote(staged)} LIMIT 0"
            )
        present = {name for name, _ in session.columns_of(target)}
        for name, kind in session.columns_of(staged):
            if name not in present:
                session.execute(f"ALTER TABLE {quote(target)} ADD COLUMN {quote(name)} {kind}")
        known = " ".join(
            f"AND NOT EXISTS (SELECT 1 FROM {quote(t)} AS p WHERE p._message_id = s._message_id)"
            for t in seen
            if session.table_exists(t)
        )
        # columns named, not matched by position nor by DuckDB's BY NAME: every engine
        names = ", ".join(quote(name) for name, _ in session.columns_of(staged))
        before = session.row_count(target)
        session.execute(
            f"INSERT INTO {quote(target)} ({names}) SELECT {names} FROM {quote(staged)} AS s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {quote(target)} AS t "
            f"WHERE t._message_id = s._message_id) {known}"
        )
        inserted = [(session.row_count(target) - before,)]
    finally:
        session.execute(f"DROP TABLE IF EXISTS {quote(staged)}")
    return int(inserted[0][0]) if inserted else 0


TYPES = tuple(StreamSourceType(name, config) for name, config in STREAM_SOURCE_CONFIGS.items())
