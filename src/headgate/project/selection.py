"""Selecting part of the DAG: ``name``, ``glob*``, ``tag:x``, ``path:models/x``, ``+name``, ``name+``.

Terms are separated by spaces or commas and their selections are united, as in dbt.
A project's external steps are nodes like its models (``steps.load_crm``, ``+steps.x``,
``steps.x+``, ``steps.*``, their ``tags:``, ``path:steps/x``): see :func:`select_in_project`.

>>> from headgate.project.dag import Dag
>>> dag = Dag({"a": [], "b": ["a"], "c": ["b"], "d": []})
>>> sorted(select(dag, "b+", tags={}, paths={}))
['b', 'c']
>>> sorted(select(dag, "+b d", tags={}, paths={}))
['a', 'b', 'd']
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.project.dag import Dag

if TYPE_CHECKING:
    from headgate.project.loader import LoadedProject

_TERM = re.compile(r"^(?P<up>\+?)(?P<body>[^+]+)(?P<down>\+?)$")


def select(
    dag: Dag, expression: str, *, tags: dict[str, list[str]], paths: dict[str, str]
) -> set[str]:
    """Node names matched by ``expression``. ``tags`` and ``paths`` are per node."""
    chosen: set[str] = set()
    for term in re.split(r"[\s,]+", expression.strip()):
        if term:
            chosen |= _select_term(dag, term, tags, paths)
    return chosen


def select_in_project(loaded: LoadedProject, expression: str) -> set[str]:
    """Models, source tables and steps matched by ``expression`` in a loaded project.

    Steps count in the graph both ways: ``+marts.revenue`` brings the steps it waits for,
    ``steps.x+`` what waits for the step.
    """
    from headgate.project.steps import PREFIX, dag_with_steps

    tags = {name: m.options.tags for name, m in loaded.models.items()}
    tags.update({name: step.config.tags for name, step in loaded.steps.items()})
    paths = {name: str(m.path.with_suffix("")) for name, m in loaded.models.items()}
    paths.update({name: f"sources/{s.source}" for name, s in loaded.sources.items()})
    paths.update({name: str(step.path.with_suffix("")) for name, step in loaded.steps.items()})
    dag = dag_with_steps(loaded.dag, loaded.steps)
    try:
        return select(dag, expression, tags=tags, paths=paths)
    except UnknownName as exc:
        if not exc.name.startswith(PREFIX):
            raise
        known = sorted(loaded.steps)
        raise UnknownName(
            exc.name,
            f"no step named '{exc.name}'",
            hint=f"the project's steps: {', '.join(known)}"
            if known
            else "this project has no steps: add one as steps/<name>.yml",
        ) from None


class UnknownName(HeadgateError):
    """A selection term naming no node (kept apart so the caller can say what exists)."""

    def __init__(self, name: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.name = name


def _select_term(
    dag: Dag, term: str, tags: dict[str, list[str]], paths: dict[str, str]
) -> set[str]:
    match = _TERM.match(term)
    if not match:
        raise HeadgateError(f"cannot read selection term '{term}'", hint=_HELP)
    body = match.group("body").lower()
    if body.startswith("tag:"):
        tag = body[4:]
        base = {n for n, node_tags in tags.items() if tag in {t.lower() for t in node_tags}}
    elif body.startswith("path:"):
        prefix = body[5:].rstrip("/")
        base = {
            n
            for n, p in paths.items()
            if p.lower() == prefix
            or p.lower().startswith(prefix + "/")
            or fnmatch.fnmatch(p.lower(), prefix)
        }
    elif any(ch in body for ch in "*?["):
        base = {n for n in dag.upstream if fnmatch.fnmatch(n, body)}
    else:
        base = {body} if body in dag.upstream else set()
        if not base:
            raise _unknown_name(dag, term, body)
    if not base:
        raise HeadgateError(f"selection '{term}' matches nothing", hint=_HELP)
    result = set(base)
    if match.group("up"):
        result |= dag.ancestors(base)
    if match.group("down"):
        result |= dag.descendants(base)
    return result


def _unknown_name(dag: Dag, term: str, name: str) -> UnknownName:
    import difflib

    close = difflib.get_close_matches(name, list(dag.upstream), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return UnknownName(name, f"selection '{term}' matches nothing", hint=hint + _HELP)


_HELP = (
    "select by name (staging.orders), glob (staging.*), tag (tag:finance), "
    "path (path:models/marts), a step (steps.load_crm), with upstream (+name) or "
    "downstream (name+)"
)
