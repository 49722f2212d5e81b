"""Selecting part of the DAG: ``name``, ``glob*``, ``tag:x``, ``path:models/x``, ``+name``, ``name+``.

Terms are separated by spaces or commas and their selections are united, as in dbt.

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

from headgate.errors import HeadgateError
from headgate.project.dag import Dag

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
        raise HeadgateError(f"selection '{term}' matches nothing", hint=_HELP)
    result = set(base)
    if match.group("up"):
        result |= dag.ancestors(base)
    if match.group("down"):
        result |= dag.descendants(base)
    return result


_HELP = (
    "select by name (staging.orders), glob (staging.*), tag (tag:finance), "
    "path (path:models/marts), with upstream (+name) or downstream (name+)"
)
