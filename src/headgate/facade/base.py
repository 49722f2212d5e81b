"""The facade's base: a loaded project, its metadata store, its engine, and helpers.

``headgate.Project`` is assembled from one module per group of operations
(building, reading, quality, environments); each is a thin layer over the
domain, so the CLI and the server stay thin too.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Self

from headgate.console import Console
from headgate.errors import HeadgateError
from headgate.facade.snapshots import (
    LiveReads,
    ProjectOutline,
    StoreReads,
    keep_outline,
    outline_of,
    project_stamp,
    read_outline,
)
from headgate.plan.naming import valid_environment
from headgate.project.root import find_root

if TYPE_CHECKING:
    from headgate.engines.base import Engine
    from headgate.project.loader import LoadedProject
    from headgate.runtime.audit import ProjectChecks
    from headgate.state.store import Lock, StateStore


class ProjectBase:
    """A loaded project and the resources its operations share.

    A project whose files did not change since a command last loaded it starts from that
    command's outline (names, kinds, fingerprints; see :mod:`headgate.facade.snapshots`)
    and is parsed only when an operation needs more: status and query never do.
    """

    def __init__(
        self,
        loaded: LoadedProject | None,
        *,
        console: Console | None = None,
        state_url: str | None = None,
        outline: ProjectOutline | None = None,
    ) -> None:
        if loaded is None and outline is None:
            raise ValueError("a project needs its loaded files or their outline")
        self._loaded = loaded
        self._outline = outline
        self.revision: str | None = (
            None  # the git revision the project was read at, if not the work tree
        )
        self._made_folder: Path | None = None  # a revision's files, removed at close
        self.console = console or Console()
        self._state_url = state_url or self.outline.state_url
        self._reads: StoreReads | LiveReads = StoreReads(
            self.root, self._state_url, lambda: self.state
        )
        self._held: Engine | None = None  # the warehouse a long-lived process keeps open
        self._held_store = False

    @classmethod
    def load(
        cls, path: str | Path = ".", *, console: Console | None = None, state_url: str | None = None
    ) -> Self:
        """Load the project at ``path`` or the nearest folder above it holding headgate.yml."""
        root = find_root(Path(path))
        outline = read_outline(root)
        if outline is not None:
            return cls(None, console=console, state_url=state_url, outline=outline)
        from headgate.plan.fingerprint import fingerprints
        from headgate.project.loader import load_project

        before = project_stamp(root, [])
        loaded = load_project(root)
        outline = outline_of(loaded, fingerprints(loaded))
        keep_outline(outline, before)
        return cls(loaded, console=console, state_url=state_url, outline=outline)

    @property
    def loaded(self) -> LoadedProject:
        """The parsed project (parsed now if the command started from its outline)."""
        if self._loaded is None:
            from headgate.project.loader import load_project

            self._loaded = load_project(self.root)
        return self._loaded

    @property
    def outline(self) -> ProjectOutline:
        if self._outline is None:
            self._outline = outline_of(self.loaded, self.fingerprints)
        return self._outline

    @classmethod
    def load_revision(
        cls, path: str | Path, revision: str, *, console: Console | None = None
    ) -> Self:
        """The project as committed at ``revision`` (data and local state from the work tree)."""
        from headgate.project.loader import load_project
        from headgate.project.revision import materialize, remove

        root = find_root(Path(path))
        folder = materialize(root, revision)
        try:
            project = cls(load_project(folder), console=console)
        except BaseException:
            remove(folder)
            raise
        project.revision = revision
        project._made_folder = folder  # its own: removed when the project closes
        return project

    @property
    def root(self) -> Path:
        return self._outline.root if self._outline else self.loaded.root

    @property
    def name(self) -> str:
        return self.outline.name

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        if self._outline is not None:
            return self._outline.fingerprints
        from headgate.plan.fingerprint import fingerprints

        return fingerprints(self.loaded)

    @cached_property
    def checks(self) -> ProjectChecks:
        """Every model's declared and custom checks; invalid ones stop a command before it runs."""
        from headgate.runtime.audit import ProjectChecks

        return ProjectChecks.load(self.loaded)

    @cached_property
    def state(self) -> StateStore:
        from headgate.state.store import StateStore

        schema = os.environ.get("HEADGATE_STATE_SCHEMA") or self.outline.state_schema
        return StateStore.open(self._state_url, project_dir=self.root, schema=schema)

    def close(self) -> None:
        if "state" in self.__dict__ and not self._held_store:
            self.state.close()
            del self.__dict__["state"]
        self._reads.keep()
        if self._made_folder is not None:
            from headgate.project.revision import remove

            remove(self._made_folder)
            self._made_folder = None

    def hold(self, engine: Engine, *, store: StateStore | None = None) -> None:
        """Use ``engine`` (and ``store``, when given) for every operation, never closing them.

        For a process that owns the warehouse for its lifetime (the hub): readers use
        sessions of the one connection, so they never wait for a lock, and store answers
        are read afresh each time instead of kept between commands. The owner closes them.
        """
        self._held = engine
        self._reads = LiveReads(lambda: self.state)
        if store is not None:
            self.__dict__["state"] = store
            self._held_store = True

    def reload(self) -> None:
        """Read the project's files again (a long-lived process after they changed)."""
        from headgate.plan.fingerprint import fingerprints
        from headgate.project.loader import load_project

        loaded = load_project(self.root)
        found = fingerprints(loaded)
        # the new files first, then what was derived from the old: a reader in between
        # sees the old project or the new one whole, never old fingerprints kept for good
        self._loaded, self._outline = loaded, outline_of(loaded, found)
        self.__dict__["fingerprints"] = found
        for cached in ("checks", "deliveries"):
            self.__dict__.pop(cached, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- selection and planning -------------------------------------------------------

    def select(self, expression: str) -> set[str]:
        from headgate.project.selection import select_in_project

        return select_in_project(self.loaded, expression)

    def _environment(self, environment: str | None) -> str:
        name = environment or self.outline.default_environment
        if not valid_environment(name):
            raise HeadgateError(
                f"'{name}' is not a valid environment name",
                hint="start with a letter; use letters, digits, '-' or '_'",
            )
        return name

    def _model_name(self, name: str) -> str:
        lowered = name.lower()
        if lowered not in self.loaded.models:
            import difflib

            close = difflib.get_close_matches(lowered, list(self.loaded.models), n=3)
            raise HeadgateError(
                f"no model named '{name}'",
                hint=f"did you mean {', '.join(close)}?" if close else None,
            )
        return lowered

    @contextmanager
    def _environment_lock(self, environment: str, *, doing: str = "a change") -> Iterator[Lock]:
        """Serialize whatever writes ``environment``: one run, deploy or rollback at a time."""
        description = f"{doing} by {_user()}"
        with self.state.acquire_lock(
            f"environment:{environment}",
            description=description,
            on_wait=lambda h: self.console.waiting(
                f"environment {environment} busy: {h.description} (pid {h.pid} on {h.host}) "
                "is writing, waiting…"
            ),
        ) as lock:
            yield lock

    @contextmanager
    def _engine(self, *, read_only: bool) -> Iterator[Engine]:
        from headgate.engines import open_engine
        from headgate.plan.environments import reconcile

        if self._held is not None:
            # the holder is the only writer: a publish pending in the store is its own, in
            # progress, and is settled by the operation doing it, never by a reader
            if not read_only:
                reconcile(self._held, self.state)
            yield self._held
            return
        engine = open_engine(
            self.loaded.config.engine, self.root, read_only=read_only, on_wait=self._warehouse_busy
        )
        try:
            # a publish the warehouse committed is one the store records, before anything reads
            # (a reader asks the store only when the last answer kept says one is pending)
            if not read_only or self._pending_publishes():
                reconcile(engine, self.state)
            yield engine
        finally:
            engine.close()

    @contextmanager
    def _environment_secrets(self, environment: str) -> Iterator[None]:
        """``${secret:NAME}`` resolves to what was set for ``environment`` while inside."""
        from headgate.security.vault import Vault
        from headgate.sources.secrets import SEEN_SECRETS, STORED_SECRETS

        vault = Vault(self.state, self.root)
        token = STORED_SECRETS.set(lambda name: vault.get(name, environment))
        seen = SEEN_SECRETS.set(set())
        try:
            yield
        finally:
            SEEN_SECRETS.reset(seen)
            STORED_SECRETS.reset(token)

    def _audit(
        self,
        action: str,
        *,
        environment: str | None = None,
        target: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        """One entry in the audit log: this user did ``action`` (security/audit.py)."""
        from headgate.security.audit import record

        record(
            self.state,
            action,
            actor=_user(),
            environment=environment,
            target=target,
            detail=dict(detail or {}),
        )

    def _settle_publishes(self) -> None:
        """Before reading what environments publish: finish a publish a killed process left.

        The warehouse may have swapped views that the store has not recorded yet; opening
        it settles that (see ``reconcile``). Costs one store query when nothing is pending.
        """
        if self._held is None and self._pending_publishes():
            with self._engine(read_only=True):
                pass

    def _pending_publishes(self) -> bool:
        pending: bool = self._reads.get(
            ("pending",), lambda store: bool(store.pending_deployments())
        )
        return pending

    def _warehouse_busy(self, text: str) -> None:
        """Say who holds the warehouse: the process the engine names and, when it is a
        headgate command the metadata store recorded, which one."""
        found = re.search(r"\(PID (\d+)\)", text)
        pid = int(found.group(1)) if found else None
        host = socket.gethostname()
        runs = self.state.list_runs(limit=50) if pid is not None else []
        run = next(
            (r for r in runs if r.status == "running" and (r.pid, r.host) == (pid, host)), None
        )
        if run is not None:
            by = f", started by {run.user}" if run.user else ""
            text += f" (it is headgate {run.command} {run.id} in {run.environment}{by})"
        self.console.waiting(text)


def _user() -> str:
    from headgate.security.principal import acting

    principal = acting()  # a hub request's user or token: it acts, not the hub's OS user
    if principal is not None:
        return principal.actor
    try:
        return os.environ.get("HEADGATE_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _git_commit(root: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None
