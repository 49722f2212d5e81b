"""Environments and deployments: create, list, delete, deploy, roll back, clean up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.facade.base import ProjectBase, _git_commit, _user

if TYPE_CHECKING:
    from headgate.plan.datadiff import DataDiff
    from headgate.plan.deployments import DeployResult, JanitorResult
    from headgate.plan.environments import Actor, PointerChange
    from headgate.state.records import DeploymentRecord, EnvironmentRecord


class Environments(ProjectBase):
    def env_create(self, name: str, *, source: str | None = None) -> PointerChange:
        """A new environment over the same tables as ``source`` (default prod): no data copied."""
        source = self._environment(source)
        with (
            self._environment_lock(name, doing="env create"),
            self._engine(read_only=False) as engine,
        ):
            from headgate.plan.environments import create_environment

            change = create_environment(
                engine, self.state, name, source=source, actor=self._actor()
            )
        self._audit("env.create", environment=name, detail={"from": source})
        return change

    def env_list(self) -> list[EnvironmentRecord]:
        return self.state.list_environments()

    def env_delete(self, name: str) -> int:
        """Drop the environment's views; its tables stay while anything else points at them."""
        with self._environment_lock(name), self._engine(read_only=False) as engine:
            from headgate.plan.environments import delete_environment

            dropped = delete_environment(engine, self.state, name)
        self._audit("env.delete", environment=name, detail={"views": dropped})
        return dropped

    def deploy(
        self, source: str, target: str | None = None, *, expect_state: str | None = None
    ) -> DeployResult:
        """Promote exactly the tables ``source`` publishes into ``target``, gated by their checks."""
        from headgate.plan.deployments import deploy

        target = self._environment(target)
        source = self._environment(source)
        hashes = dict(self.checks.hashes)
        with (
            self._environment_lock(target, doing="a deploy"),
            self._engine(read_only=False) as engine,
        ):
            result = deploy(
                engine,
                self.state,
                source=source,
                target=target,
                check_hashes=hashes,
                actor=self._actor(),
                expect_state=expect_state,
            )
        self._audit(
            "deploy",
            environment=target,
            detail={
                "from": source,
                "deployment": result.change.deployment_id,
                "models": [m["name"] for m in result.models],
            },
        )
        return result

    def rollback(
        self, environment: str | None = None, *, to: int | None = None
    ) -> tuple[int, PointerChange]:
        """Publish again what an earlier deployment published: no rebuild."""
        from headgate.plan.deployments import rollback

        environment = self._environment(environment)
        with (
            self._environment_lock(environment, doing="a rollback"),
            self._engine(read_only=False) as engine,
        ):
            earlier, change = rollback(engine, self.state, environment, to=to, actor=self._actor())
        self._audit(
            "rollback",
            environment=environment,
            detail={"to": earlier, "deployment": change.deployment_id, "views": change.count},
        )
        return earlier, change

    def deployments(
        self, environment: str | None = None, *, limit: int = 20
    ) -> list[DeploymentRecord]:
        self._settle_publishes()
        return self.state.deployments(environment=environment, limit=limit)

    def janitor(self, *, retention_days: float = 7.0, dry_run: bool = False) -> JanitorResult:
        """Drop physical tables nothing points at any more, nor any deployment in the retention."""
        from headgate.plan.deployments import janitor

        with self._engine(read_only=False) as engine:
            return janitor(
                engine,
                self.state,
                physical_schema=self.loaded.config.physical_schema,
                retention_days=retention_days,
                dry_run=dry_run,
            )

    def environment_state(self, environment: str | None = None) -> str:
        """A short hash of what ``environment`` publishes (``deploy --expect-state`` compares it)."""
        from headgate.plan.deployments import state_hash
        from headgate.plan.environments import current_pointers

        return state_hash(current_pointers(self.state, self._environment(environment)))

    def diff(
        self, model: str, environment: str | None, against: str, *, key: list[str] | None = None
    ) -> DataDiff:
        """How ``model``'s data differs between two environments, by key, inside the engine."""
        from headgate.plan.datadiff import diff_tables

        name = self._model_name(model)
        left_env, right_env = self._environment(environment), self._environment(against)
        tables = []
        for env in (left_env, right_env):
            pointer = self.state.env_models(env).get(name)
            if pointer is None:
                raise HeadgateError(
                    f"{name} is not published in {env}", hint=f"build it: headgate run --env {env}"
                )
            tables.append((env, pointer.physical_table))
        columns = key or self.loaded.models[name].options.unique_key_columns
        with self._engine(read_only=True) as engine:
            return diff_tables(engine.session(), name, tables[0], tables[1], list(columns))

    def _actor(self) -> Actor:
        from headgate.plan.environments import Actor

        return Actor(_user(), _git_commit(self.root))
