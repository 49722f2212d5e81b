"""File-arrival triggers: a new file in a files source's folder starts a run.

The scheduler's loop polls each trigger's table: the files its path or glob matches
now. A file is new when its content was never loaded into any table (the metadata
store's record of loaded files says which were) and no trigger fired for it yet. A file
counts only once it stopped changing between two polls, so a file still being copied in
does not start a run with half of it. Files that land together start one run.

Each (trigger, file content) is claimed in the store's slot table before its run starts,
keyed by the content's hash, so however many hub replicas poll, and across restarts, a
file starts one run.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from headgate.state.tables import loaded_files

if TYPE_CHECKING:
    from headgate.project.loader import LoadedProject
    from headgate.project.schedules import TriggerConfig
    from headgate.state.store import StateStore

log = logging.getLogger(__name__)

# Every claim of a trigger's file has this slot time; the file's content names the claim.
CLAIMED_AT = datetime(1970, 1, 1, tzinfo=UTC)

TriggerLaunch = Callable[["TriggerConfig", list[str]], int]  # start a run; its run id


@dataclass
class Fired:
    """A trigger's last firing, as this process saw it."""

    at: datetime
    files: list[str]
    run_id: int


@dataclass
class FileWatch:
    """The triggers of a project, polled by the scheduler of the process that leads."""

    triggers: list[TriggerConfig]
    store: StateStore
    launch: TriggerLaunch
    project: LoadedProject
    fired: dict[str, Fired] = field(default_factory=dict)
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (size, mtime)
    _hashes: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def poll(self, paused: set[str] | None = None) -> list[tuple[str, list[str]]]:
        """Start a run for each trigger with new files; (trigger, files) for each run started."""
        started = []
        for trigger in self.triggers:
            if trigger.paused or trigger.name in (paused or set()):
                continue
            try:
                files = self._fire(trigger)
            except OSError as exc:  # a folder that vanished for a moment: the next poll sees
                log.warning("trigger %s cannot read its files: %s", trigger.name, exc)
                continue
            if files:
                started.append((trigger.name, files))
        return started

    def _fire(self, trigger: TriggerConfig) -> list[str]:
        new = self.new_files(trigger)
        claimed = [
            (path, digest)
            for path, digest in new
            if self.store.claim_slot(claim_name(trigger.name, digest), CLAIMED_AT, state="started")
        ]
        if not claimed:
            return []
        paths = [path for path, _ in claimed]
        run_id = self.launch(trigger, paths)
        for _, digest in claimed:
            self.store.attach_slot_run(claim_name(trigger.name, digest), CLAIMED_AT, run_id)
        self.fired[trigger.name] = Fired(datetime.now(UTC), paths, run_id)
        return paths

    def forget_unstarted(self) -> int:
        """Let go the claims of files whose run was never started (a leader died between
        the two); how many. Only a new leader calls this."""
        from sqlalchemy import delete, or_

        from headgate.state.tables import schedule_slots

        if not self.triggers:
            return 0
        claims = or_(
            *(
                schedule_slots.c.schedule.startswith(f"{t.name}:", autoescape=True)
                for t in self.triggers
            )
        )
        with self.store.engine.begin() as conn:
            result = conn.execute(
                delete(schedule_slots).where(claims, schedule_slots.c.run_id.is_(None))
            )
        return int(result.rowcount or 0)

    def new_files(self, trigger: TriggerConfig) -> list[tuple[str, str]]:
        """(path relative to the project, content hash) of the files that are new and settled."""
        table = self.project.sources.get(trigger.files)
        if table is None or table.kind != "files":
            return []
        settled = []
        for path, size, mtime in _matches(self.project.root, table.config.path):
            previous = self._seen.get(path)
            self._seen[path] = (size, mtime)
            if previous == (size, mtime):
                settled.append((path, self._digest(path, size, mtime)))
        if not settled:
            return []
        loaded = self._loaded({digest for _, digest in settled})
        return [(path, digest) for path, digest in settled if digest not in loaded]

    def _digest(self, path: str, size: int, mtime: int) -> str:
        from headgate.project.loader import _file_digest

        key = (path, size, mtime)
        if key not in self._hashes:
            self._hashes[key] = _file_digest(str(self.project.root / path))
        return self._hashes[key]

    def _loaded(self, digests: set[str]) -> set[str]:
        """Which of these contents some run already loaded (by any table)."""
        query = select(loaded_files.c.content_hash).where(
            loaded_files.c.content_hash.in_(sorted(digests))
        )
        with self.store.engine.connect() as conn:
            return {str(row[0]) for row in conn.execute(query)}


def claim_name(trigger: str, digest: str) -> str:
    """The slot table's key for a trigger's file: one claim per (trigger, content)."""
    return f"{trigger}:{digest}"


def _matches(root: Path, pattern: str) -> list[tuple[str, int, int]]:
    """(path relative to ``root``, size, modification time) of each file ``pattern`` matches."""
    full = pattern if os.path.isabs(pattern) else str(root / pattern)
    found = []
    for match in sorted(glob.glob(full, recursive=True)):
        stat = os.stat(match)
        if os.path.isfile(match):
            found.append((os.path.relpath(match, root), stat.st_size, stat.st_mtime_ns))
    return found


def last_fired(store: StateStore, trigger: str) -> tuple[int, datetime] | None:
    """(run id, when) of the newest run ``trigger`` started, from its claims in the store."""
    from headgate.state.tables import schedule_slots

    query = (
        select(schedule_slots.c.run_id, schedule_slots.c.created_at)
        .where(
            schedule_slots.c.schedule.startswith(f"{trigger}:", autoescape=True),
            schedule_slots.c.run_id.is_not(None),
        )
        .order_by(schedule_slots.c.run_id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return (int(row[0]), row[1]) if row is not None else None
