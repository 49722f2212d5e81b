"""What short commands (status, query) read, kept between commands so they answer at once.

Loading a project parses every model (sqlglot) and validates every YAML file (Pydantic);
opening the metadata store loads SQLAlchemy. A status or a query needs little of it: the
models' names, kinds and fingerprints, and a few rows of the store. Both are kept in
``.headgate/cache/``:

* the project's *outline*, valid while no file it was made from changed (every file under
  ``models/`` and ``sources/``, headgate.yml, and the data files the file sources match;
  compared by size and modification time, and by content for a file modified within two
  seconds of the outline, whose time alone could not tell a later edit);
* the store's answers, valid while its SQLite files are unchanged (the database, its
  write-ahead log, and the log index's header, which counts every commit). A store on
  PostgreSQL is always asked.

Anything that changes those files changes the stamp, and a mismatch is a full load,
exactly as without the cache. As for make and git, an edit that restores both the size
and the modification time of a file older than two seconds (``touch -d``, an archive
extracted over it) is not seen; ``rm -r .headgate/cache`` forgets everything kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from headgate import __version__
from headgate.project.root import CONFIG_FILE

if TYPE_CHECKING:
    from headgate.project.loader import LoadedProject
    from headgate.state.store import StateStore

CACHE_DIR = Path(".headgate") / "cache"
OUTLINE_FILE = CACHE_DIR / f"outline-{__version__}.pickle"
READS_FILE = CACHE_DIR / f"store-reads-{__version__}.pickle"
RACY_NANOSECONDS = 2_000_000_000  # a file this recent is compared by content too
SHM_HEADER_BYTES = 48  # SQLite's WAL-index header: a change counter, frames, salts
STATE_URL_VARIABLE = "HEADGATE_STATE_URL"
DEFAULT_STATE = Path(".headgate") / "state.db"
_HEADGATE = Path(__file__).resolve().parent.parent
# Code whose change changes an outline (how projects are read and fingerprinted).
_CODE = ("project", "sources", "plan/fingerprint.py", "facade/snapshots.py")

T = TypeVar("T")
Stamp = tuple[tuple[str, int, int], ...]


@dataclass
class ProjectOutline:
    """What short commands need from a project, without parsing it."""

    root: Path
    name: str
    engine: dict[str, Any]  # headgate.yml's engine block, validated
    state_url: str | None
    state_schema: str | None
    default_environment: str
    physical_schema: str
    order: list[str]  # models and sources in dependency order
    kinds: dict[str, tuple[str, str]]  # name -> (kind, materialization)
    fingerprints: dict[str, str]
    patterns: list[str] = field(default_factory=list)  # file sources' paths and globs


def outline_of(loaded: LoadedProject, fingerprints: dict[str, str]) -> ProjectOutline:
    config = loaded.config
    kinds: dict[str, tuple[str, str]] = {
        name: ("model", model.options.materialized) for name, model in loaded.models.items()
    }
    kinds.update({name: ("source", "source") for name in loaded.sources})
    return ProjectOutline(
        root=loaded.root,
        name=config.name,
        engine=config.engine.model_dump(),
        state_url=config.state_url,
        state_schema=config.state_schema,
        default_environment=config.default_environment,
        physical_schema=config.physical_schema,
        order=list(loaded.dag.order),
        kinds=kinds,
        fingerprints=dict(fingerprints),
        patterns=sorted({s.config.path for s in loaded.sources.values() if not s.external}),
    )


def read_outline(root: Path) -> ProjectOutline | None:
    """The project's outline if none of its files changed since it was kept, else None."""
    kept = _read(root / OUTLINE_FILE)
    if not isinstance(kept, dict) or kept.get("code") != _code_stamp():
        return None
    outline = kept.get("outline")
    if not isinstance(outline, ProjectOutline) or outline.root != root:
        return None
    if project_stamp(root, outline.patterns) != kept.get("stamp"):
        return None
    if any(_digest(root / path) != digest for path, digest in kept.get("racy", {}).items()):
        return None
    return outline


def keep_outline(outline: ProjectOutline, stamp_before: Stamp) -> None:
    """Keep ``outline`` for the next command, if its files did not change while it was made."""
    root = outline.root
    stamp = project_stamp(root, outline.patterns)
    if _project_files(stamp) != _project_files(stamp_before):
        return  # a file changed during the load: the outline may not match either version
    recent = time.time_ns() - RACY_NANOSECONDS
    racy = {path: _digest(root / path) for path, _, mtime in stamp if mtime >= recent}
    _write(
        root / OUTLINE_FILE,
        {"code": _code_stamp(), "stamp": stamp, "racy": racy, "outline": outline},
    )


def project_stamp(root: Path, patterns: list[str]) -> Stamp:
    """Size and modification time of every file a load reads."""
    found: dict[str, tuple[int, int]] = {}
    config = root / CONFIG_FILE
    found[CONFIG_FILE] = _stat(config)
    for folder in ("models", "sources"):
        _stat_files_under(str(root), folder, found)
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(root / pattern)
        for match in glob(full, recursive=True):
            found[os.path.relpath(match, root)] = _stat(Path(match))
    return tuple((path, size, mtime) for path, (size, mtime) in sorted(found.items()))


class StoreReads:
    """Answers from the metadata store kept while its SQLite files stay unchanged.

    ``get(key, read)`` returns the kept answer, or calls ``read(store)`` on the open store
    and keeps what it returned once the command ends (``keep()``), provided nothing wrote
    to the store in between.
    """

    def __init__(self, root: Path, url: str | None, open_store: Callable[[], StateStore]) -> None:
        self._path = _sqlite_path(root, url)
        self._file = root / READS_FILE
        self._open_store = open_store
        self._before: tuple[Any, ...] | None = None
        self._kept: dict[Any, Any] | None = None
        self._fresh: dict[Any, Any] = {}

    def get(self, key: Any, read: Callable[[StateStore], T]) -> T:
        if self._path is None:
            return read(self._open_store())
        if self._before is None:
            self._before = _store_stamp(self._path)
            kept = _read(self._file)
            valid = isinstance(kept, dict) and kept.get("stamp") == self._before
            self._kept = kept["values"] if valid else {}
        assert self._kept is not None
        if key in self._kept:
            value: T = self._kept[key]
            return value
        value = read(self._open_store())
        self._fresh[key] = value
        return value

    def keep(self) -> None:
        """Keep what was read, if the store is as it was before the first read (call after
        closing the store: closing the last connection tidies SQLite's files)."""
        if self._path is None or not self._fresh or self._before is None:
            return
        if _store_stamp(self._path) != self._before:
            return
        self._write({**(self._kept or {}), **self._fresh})
        self._fresh = {}

    def _write(self, values: dict[Any, Any]) -> None:
        _write(self._file, {"stamp": self._before, "values": values})


class LiveReads:
    """:class:`StoreReads` for a long-lived process: every answer is read from the store."""

    def __init__(self, open_store: Callable[[], StateStore]) -> None:
        self._open_store = open_store

    def get(self, key: Any, read: Callable[[StateStore], T]) -> T:
        return read(self._open_store())

    def keep(self) -> None:
        """Nothing is kept: the store changes under a process that lives on."""


def _sqlite_path(root: Path, url: str | None) -> Path | None:
    """The store's SQLite file, or None when the store is elsewhere (PostgreSQL)."""
    chosen = url or os.environ.get(STATE_URL_VARIABLE) or ""
    if not chosen:
        return root / DEFAULT_STATE
    prefix = "sqlite:///"
    return Path(chosen[len(prefix) :]) if chosen.startswith(prefix) else None


def _store_stamp(path: Path) -> tuple[Any, ...]:
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    header = b""
    try:
        with open(shm, "rb") as handle:
            header = handle.read(SHM_HEADER_BYTES)
    except OSError:
        pass
    return (_stat(path, inode=True), _stat(wal, inode=True), header)


def _code_stamp() -> Stamp:
    """headgate's own code that reads and fingerprints projects: an outline made by other
    code (a development install, edited) is not trusted."""
    found = []
    for part in _CODE:
        target = _HEADGATE / part
        paths = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        found += [(str(p.relative_to(_HEADGATE)), *_stat(p)) for p in paths]
    return tuple(found)


def _project_files(stamp: Stamp) -> Stamp:
    """The part of a stamp that is the project's own files (not the data files)."""
    folders = (f"models{os.sep}", f"sources{os.sep}")
    return tuple(e for e in stamp if e[0] == CONFIG_FILE or e[0].startswith(folders))


def _stat_files_under(root: str, folder: str, found: dict[str, tuple[int, int]]) -> None:
    """Size and modification time of every file under ``root/folder``, by its path from
    ``root`` (as ``os.walk`` sees them: a link to a folder is not followed). A hub looks
    every few seconds, so this is one ``scandir`` per folder and one ``stat`` per file."""
    folders = [folder]
    while folders:
        relative = folders.pop()
        try:
            entries = list(os.scandir(os.path.join(root, relative)))
        except OSError:
            continue
        for entry in entries:
            path = f"{relative}{os.sep}{entry.name}"
            if entry.is_dir():
                if not entry.is_symlink():
                    folders.append(path)
                continue
            try:
                stat = entry.stat()
            except OSError:
                found[path] = (-1, -1)
            else:
                found[path] = (stat.st_size, stat.st_mtime_ns)


def _stat(path: Path, *, inode: bool = False) -> Any:
    try:
        stat = os.stat(path)
    except OSError:
        return (-1, -1, -1) if inode else (-1, -1)
    return (
        (stat.st_size, stat.st_mtime_ns, stat.st_ino) if inode else (stat.st_size, stat.st_mtime_ns)
    )


def _digest(path: Path) -> str | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return None


def _read(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None


def _write(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
