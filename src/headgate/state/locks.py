"""Named locks in the metadata store that serialize runs and deploys across processes.

A lock is a row keyed by its name. Processes on other machines share the store, so a lock
cannot rely on an OS file lock: it records who holds it (pid, host, a description such as
"run 41 by alice") and a heartbeat. A lock whose holder died on this host, or whose
heartbeat stopped for :data:`STALE_AFTER`, is taken over so a crash never blocks a team.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, delete, select, update

from headgate.errors import StateError, WarehouseBusy
from headgate.state.database import Database
from headgate.state.sqltypes import now
from headgate.state.tables import locks

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=120)
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as shown to someone waiting for it."""

    name: str
    pid: int
    host: str
    description: str | None
    acquired_at: datetime
    heartbeat_at: datetime | None = None

    def __str__(self) -> str:
        who = self.description or "a headgate process"
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{who} (pid {self.pid} on {self.host}, since {since})"


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this machine (signal 0 probes, sends nothing)."""
    if pid is None or pid <= 0:
        return False  # kill(0) or kill(-1) would probe process groups, not one process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class Lock:
    """A held lock: a context manager that keeps its heartbeat going until released."""

    def __init__(
        self, db: Database, holder: LockHolder, token: str, heartbeat_every: float | None
    ) -> None:
        self._db = db
        self.holder = holder
        self._token = token
        self._released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if heartbeat_every:
            self._thread = threading.Thread(
                target=self._keep_alive,
                args=(heartbeat_every,),
                name=f"headgate-lock-{holder.name}",
                daemon=True,
            )
            self._thread.start()

    @property
    def name(self) -> str:
        return self.holder.name

    def heartbeat(self) -> None:
        """Mark the lock as still in use; raises StateError if another process took it over."""
        with self._db.write("renewing a lock") as conn:
            result = conn.execute(
                update(locks)
                .where(locks.c.name == self.name, locks.c.token == self._token)
                .values(heartbeat_at=now())
            )
        if not result.rowcount:
            raise StateError(
                f"lock {self.name} is no longer held by this process: "
                "its heartbeat stopped and another process took it over"
            )

    def release(self) -> None:
        """Let the next waiter in; releasing an already released lock does nothing."""
        if self._released:
            return
        self._stop.set()
        with self._db.write("releasing a lock") as conn:
            conn.execute(
                delete(locks).where(locks.c.name == self.name, locks.c.token == self._token)
            )
        self._released = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _keep_alive(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.heartbeat()
            except StateError as exc:
                if not self._stop.is_set():
                    log.warning("%s", exc.message)
                if "no longer held" in exc.message:
                    return

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire(
    db: Database,
    name: str,
    *,
    description: str | None,
    wait: bool,
    timeout: float,
    on_wait: Callable[[LockHolder], None] | None,
    heartbeat_every: float | None,
) -> Lock:
    """Take lock ``name``, waiting (and telling ``on_wait`` once) while a live process holds it."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    told = False
    while True:
        me = LockHolder(name, os.getpid(), this_host(), description, now())
        holder = _try_take(db, me, token)
        if holder is None:
            return Lock(db, me, token, heartbeat_every)
        remaining = deadline - time.monotonic()
        if not wait or remaining <= 0:
            raise _busy(holder, waited=timeout if wait else None)
        if on_wait is not None and not told:
            on_wait(holder)
        told = True
        time.sleep(min(POLL_SECONDS, remaining))


def _try_take(db: Database, me: LockHolder, token: str) -> LockHolder | None:
    """None when ``me`` now holds the lock, else its live holder."""
    row = {
        "name": me.name,
        "token": token,
        "pid": me.pid,
        "host": me.host,
        "description": me.description,
        "acquired_at": me.acquired_at,
        "heartbeat_at": me.acquired_at,
    }
    with db.write("taking a lock") as conn:
        while not db.insert_if_absent(conn, locks, row):
            current = conn.execute(select(locks).where(locks.c.name == me.name)).one_or_none()
            if current is None:
                continue  # released between our insert and our look: try again
            holder = _holder(current._mapping)
            if not _stale(holder, me.acquired_at):
                return holder
            if _take_over(conn, row, current.token):
                log.warning("took over stale lock %s from %s", me.name, holder)
                return None
    return None


def _take_over(conn: Connection, row: dict[str, Any], old_token: str) -> bool:
    """Replace the stale holder, unless someone else replaced it first."""
    result = conn.execute(
        update(locks)
        .where(locks.c.name == row["name"], locks.c.token == old_token)
        .values(**{k: v for k, v in row.items() if k != "name"})
    )
    return bool(result.rowcount)


def _stale(holder: LockHolder, at: datetime) -> bool:
    beat = holder.heartbeat_at or holder.acquired_at
    if at - beat > STALE_AFTER:
        return True
    return holder.host == this_host() and not pid_alive(holder.pid)


def _holder(row: Any) -> LockHolder:
    return LockHolder(
        name=row["name"],
        pid=row["pid"],
        host=row["host"],
        description=row["description"],
        acquired_at=row["acquired_at"],
        heartbeat_at=row["heartbeat_at"],
    )


def _busy(holder: LockHolder, *, waited: float | None) -> WarehouseBusy:
    if waited is None:
        message = f"{holder.name} is busy: held by {holder}"
    else:
        message = f"gave up after waiting {waited:g} s for {holder.name}: held by {holder}"
    return WarehouseBusy(
        message,
        hint="it is released when that process finishes; "
        "a lock whose holder died is taken over automatically",
    )
