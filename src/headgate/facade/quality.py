"""Data quality: checks on what is published, failing rows, profiles, monitors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _git_commit, _user

if TYPE_CHECKING:
    from headgate.checks.profile import Profile
    from headgate.checks.spc import ChartResult
    from headgate.checks.suggest import BuildHistory, Suggestion
    from headgate.runtime.checking import CheckReport
    from headgate.state.records import CheckResultRecord


class Quality(ProjectBase):
    def test(self, environment: str | None = None, *, selection: str | None = None) -> CheckReport:
        """Run the checks of what ``environment`` publishes, building nothing; recorded as a run."""
        from headgate.runtime.checking import check_environment
        from headgate.runtime.service import recorded_run

        environment = self._environment(environment)
        checks = self.checks
        models = self.select(selection) if selection else None
        store = self.state
        recorded = recorded_run(
            store,
            environment=environment,
            command="test",
            selection=selection,
            user=_user(),
            git_commit=_git_commit(self.root),
        )
        with recorded as (run_id, outcome), self._engine(read_only=True) as engine:
            result = check_environment(
                self.loaded,
                checks,
                engine,
                store,
                environment=environment,
                models=models,
                run_id=run_id,
            )
            failed = [f"{r.name}: {r.message}" for r in result.results if r.blocking]
            failed += [f"{m}: {e}" for m, e in result.errors.items()]
            outcome.status = "success" if result.ok else "failed"
            outcome.error = "\n".join(failed) or None
        return result

    def failures(self, check_name: str) -> CheckResultRecord:
        """The latest result of a check, with its sample of failing rows."""
        return self.failures_of(check_name)[0]

    def failures_of(self, check_name: str) -> list[CheckResultRecord]:
        """The latest result of a check; of each model's, for a custom check on several models.

        A custom check reading several models has a result per model, named
        ``<name>@<model>``: asked by its file's name, every one of them is returned.
        """
        record = self.state.latest_check_result(check_name)
        if record is not None:
            return [record]
        checks = self.checks
        every = [
            c for found in (checks.by_model, checks.custom) for cs in found.values() for c in cs
        ]
        per_model = sorted({c.name for c in every if c.name.startswith(f"{check_name}@")})
        found = [r for name in per_model if (r := self.state.latest_check_result(name))]
        if found:
            return found
        import difflib

        known = sorted({c.name for c in every})
        close = difflib.get_close_matches(check_name, known, n=3)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "run `headgate run` or `headgate test` first"
        )
        raise HeadgateError(f"no result recorded for check '{check_name}'", hint=hint)

    def profile(self, name: str, environment: str | None = None) -> Profile:
        """Profile a published model or source in one scan, and keep the profile."""
        from headgate.checks.profile import profile_table

        environment = self._environment(environment)
        target = self._published_table(name, environment)
        with self._engine(read_only=True) as engine:
            profile = profile_table(engine.session(), target, dialect=engine.capabilities.dialect)
        self.state.save_profile(name.lower(), target, profile.to_dict(), profile.rows)
        return profile

    def suggest_checks(self, name: str, environment: str | None = None) -> str:
        """Proposed checks, as YAML in the model options' shape, from the latest profile.

        Besides the profile: the build history in the metadata store (row counts, time
        columns' lags) sets volume and freshness thresholds, and relationships are found
        by one query per likely pair of this table's key-named column and another's key.
        """
        from headgate.checks.profile import Profile
        from headgate.checks.suggest import suggest_checks, suggestions_yaml

        model = name.lower()
        environment = self._environment(environment)
        stored = self.state.latest_profile(model)
        if stored:
            fields = {
                k: v
                for k, v in stored.items()
                if k not in ("id", "model", "physical_table", "created_at")
            }
            profile = Profile.from_dict(fields)
        else:
            profile = self.profile(model, environment)
        suggestions = suggest_checks(
            profile, model=model, history=self._build_history(profile, model)
        )
        suggestions += self._relationships(model, profile, environment)
        return suggestions_yaml(model, suggestions, profile=profile)

    def _build_history(self, profile: Profile, model: str) -> BuildHistory:
        from headgate.checks.suggest import BuildHistory

        counts = [v for _, _, v in self.state.metric_history(model, "row_count", limit=30)]
        lags = {
            c.name: [
                v
                for _, _, v in self.state.metric_history(model, f"freshness_lag:{c.name}", limit=30)
            ]
            for c in profile.columns
            if c.kind == "temporal"
        }
        return BuildHistory(counts, lags)

    def _relationships(self, model: str, profile: Profile, environment: str) -> list[Suggestion]:
        """Relationships to other published tables, tried by name and type (see checks.keys)."""
        from headgate.checks.keys import candidates, suggest_relationships

        pointers = self.state.env_models(environment)
        if model not in pointers:
            return []
        downstream = (
            self.loaded.dag.descendants([model]) if model in self.loaded.dag.order else set()
        )
        others = {n: p.physical_table for n, p in pointers.items() if n not in downstream}
        with self._engine(read_only=True) as engine:
            session = engine.session()
            rows = session.execute(
                "SELECT table_schema, table_name, column_name, data_type "
                "FROM information_schema.columns ORDER BY table_schema, table_name, ordinal_position"
            )
            by_table: dict[str, list[tuple[str, str]]] = {}
            for schema, table, column, kind in rows:
                by_table.setdefault(f"{schema}.{table}", []).append((str(column), str(kind)))
            tables = {n: (t, by_table.get(t, [])) for n, t in others.items()}
            pairs = candidates(model, profile, tables)
            if not pairs:
                return []
            return suggest_relationships(
                session,
                pointers[model].physical_table,
                profile,
                pairs,
                dialect=engine.capabilities.dialect,
            )

    def monitor(
        self, model: str, metric: str, *, column: str | None = None, chart: str | None = None
    ) -> ChartResult:
        """The control chart of one metric of a model over its recorded runs: the model's
        own monitor of that metric if it declares one (its window, method, chart), judged
        by ``chart`` if given, else by the chart its audits use."""
        from headgate.checks.spc import monitor_spec
        from headgate.runtime.monitoring import recorded_chart, spec_of

        name = self._model_name(model)
        try:
            spec = monitor_spec({"metric": metric, **({"column": column} if column else {})})
            if chart is not None:
                monitor_spec({"metric": metric, "chart": chart})  # an unknown chart is refused
        except ValueError as exc:
            raise HeadgateError(str(exc)) from None
        for check in self.checks.of(name):
            if check.type == "monitor":
                declared = spec_of(check)
                if declared.key == spec.key:
                    spec = declared
                    break
        found = recorded_chart(self.state, name, spec, chart=chart)
        if found is None:
            raise HeadgateError(
                f"no values of {spec.key} recorded for {name}",
                hint="metrics are recorded by runs of models that declare a monitor (row_count by every run)",
            )
        return found

    def _published_table(self, name: str, environment: str) -> str:
        lowered = name.lower()
        pointer = self.state.env_models(environment).get(lowered)
        if pointer is None:
            known = sorted(self.state.env_models(environment))
            import difflib

            close = difflib.get_close_matches(lowered, known, n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"build it first: headgate run --env {environment}"
            )
            raise HeadgateError(f"{name} is not published in {environment}", hint=hint)
        return pointer.physical_table
