"""The changes the UI asks of the hub, each queued in its writer lane as a job, and the
page that follows a job until it ends.

These build the same jobs as the REST API's routes (``server/api/environments.py``,
``server/api/deliveries.py``): the work is the facade's own operation. Should the hub
grow methods for them, each function here is the one place to call them instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headgate.errors import HeadgateError
from headgate.server.permissions import Permission, requires
from headgate.server.ui.templating import PageRoute, hub_of, render

if TYPE_CHECKING:
    from headgate.facade import Project
    from headgate.server.hub import Hub
    from headgate.server.jobs import Job

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def submit_env_create(hub: Hub, name: str, source: str) -> Job:
    def work(project: Project) -> dict[str, Any]:
        change = project.env_create(name, source=source)
        return {"environment": name, "from": source, "models": len(change.changed)}

    return hub.submit("env_create", f"env create {name} from {source}", work, environment=name)


def submit_env_delete(hub: Hub, name: str) -> Job:
    def work(project: Project) -> dict[str, Any]:
        return {"environment": name, "views_dropped": project.env_delete(name)}

    return hub.submit("env_delete", f"env delete {name}", work, environment=name)


def submit_deploy(hub: Hub, source: str, target: str, *, expect_state: str | None) -> Job:
    """Promote what ``source`` publishes into ``target``, gated by its checks (the facade
    refuses, with the reason, tables whose checks did not run or failed)."""

    def work(project: Project) -> dict[str, Any]:
        result = project.deploy(source, target, expect_state=expect_state)
        return {
            "deployment_id": result.change.deployment_id,
            "from": result.source,
            "to": result.target,
            "models": result.models,
        }

    return hub.submit("deploy", f"deploy {source} to {target}", work, environment=target)


def submit_rollback(hub: Hub, environment: str, *, to: int | None) -> Job:
    def work(project: Project) -> dict[str, Any]:
        earlier, change = project.rollback(environment, to=to)
        return {
            "environment": environment,
            "rolled_back_to": earlier,
            "deployment_id": change.deployment_id,
            "models": change.count,
        }

    return hub.submit("rollback", f"rollback {environment}", work, environment=environment)


def submit_deliveries(hub: Hub, environment: str, names: list[str] | None) -> Job:
    def work(project: Project) -> dict[str, Any]:
        results = project.deliver(environment, names=names)
        return {"deliveries": [r.to_dict() for r in results]}

    what = ", ".join(names) if names else "all deliveries"
    return hub.submit("deliver", f"deliver {what} in {environment}", work, environment=environment)


# where a finished job's page sends a person next
NEXT = {
    "env_create": "/environments/{environment}",
    "env_delete": "/environments",
    "deploy": "/environments/{environment}",
    "rollback": "/environments/{environment}",
    "deliver": "/deliveries",
    "run": "/runs/{run_id}",
}


@router.get(
    "/jobs/{job_id}",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def job_page(request: Request, job_id: int) -> HTMLResponse:
    return render(
        request, "job.html", section="", title=f"Job {job_id}", **_job_context(request, job_id)
    )


@router.get(
    "/jobs/{job_id}/live",
    response_class=HTMLResponse,
    dependencies=[Depends(requires(Permission.RUNS_READ))],
)
def job_live(request: Request, job_id: int) -> HTMLResponse:
    return render(request, "job_live.html", **_job_context(request, job_id))


def _job_context(request: Request, job_id: int) -> dict[str, Any]:
    job = hub_of(request).job(job_id)
    if job is None:
        raise HeadgateError(
            f"no job {job_id} on this hub",
            hint="jobs are kept while the hub runs; see the environments' histories",
        )
    template = NEXT.get(job.kind, "/")
    onward = template.format(environment=job.environment or "", run_id=job.run_id or "")
    return {"job": job, "onward": onward}
