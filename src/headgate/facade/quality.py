"""Data quality: checks on what is published, failing rows, profiles, monitors."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _git_commit, _user

if TYPE_CHECKING:
    from headgate.runtime.checking import CheckReport
    from headgate.state.records import CheckResultRecord


class Quality(ProjectBase):
    def test(self, environment: str | None = None, *, selection: str | None = None) -> CheckReport:
        """Run the checks of what ``environment`` publishes, building nothing; recorded as a run."""
        from headgate.runtime.checking import check_environment

        environment = self._environment(environment)
        checks = self.checks
        models = self.select(selection) if selection else None
        store = self.state
        run_id = store.start_run(
            environment=environment,
            command="test",
            selection=selection,
            user=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            git_commit=_git_commit(self.root),
        )
        try:
            with self._engine(read_only=True) as engine:
                result = check_environment(
                    self.loaded,
                    checks,
                    engine,
                    store,
                    environment=environment,
                    models=models,
                    run_id=run_id,
                )
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        failed = [f"{r.name}: {r.message}" for r in result.results if r.blocking]
        failed += [f"{m}: {e}" for m, e in result.errors.items()]
        store.finish_run(
            run_id, "success" if result.ok else "failed", error="\n".join(failed)[:4000] or None
        )
        return result

    def failures(self, check_name: str) -> CheckResultRecord:
        """The latest result of a check, with its sample of failing rows."""
        record = self.state.latest_check_result(check_name)
        if record is None:
            known = sorted({c.name for checks in self.checks.by_model.values() for c in checks})
            import difflib

            close = difflib.get_close_matches(check_name, known, n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else "run `headgate run` or `headgate test` first"
            )
            raise HeadgateError(f"no result recorded for check '{check_name}'", hint=hint)
        return record
