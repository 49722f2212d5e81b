"""Small reads the pages share: which environments exist, which one a page shows, the
DAG's layout (kept while the project's graph is unchanged)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError
from headgate.server.ui.layout import Layout, layered_layout

if TYPE_CHECKING:
    from headgate.facade import Project

_layouts: dict[tuple[tuple[str, tuple[str, ...]], ...], Layout] = {}
_guard = threading.Lock()
KEPT_LAYOUTS = 4


def environment_names(project: Project) -> list[str]:
    """Every environment, the default one first (listed even before anything is built)."""
    default = project.outline.default_environment
    names = [e.name for e in project.env_list()]
    return [default, *sorted(n for n in names if n != default)]


def chosen_environment(project: Project, asked: str | None) -> str:
    """The environment a page shows: the one asked for, else the project's default."""
    if not asked:
        return project.outline.default_environment
    names = environment_names(project)
    if asked not in names:
        raise HeadgateError(
            f"no environment named '{asked}'",
            hint=f"environments: {', '.join(names)}",
        )
    return asked


def graph_of(project: Project) -> dict[str, list[str]]:
    """Every model, source and external step with its direct upstream names."""
    from headgate.project.steps import graph_with_steps

    return graph_with_steps(project.loaded.dag.upstream, project.loaded.steps)


def cached_layout(project: Project, upstream: dict[str, list[str]] | None = None) -> Layout:
    """The layered layout of ``upstream`` (default: the whole DAG), computed once per graph."""
    graph = upstream if upstream is not None else graph_of(project)
    key = tuple(sorted((name, tuple(parents)) for name, parents in graph.items()))
    with _guard:
        found = _layouts.get(key)
    if found is not None:
        return found
    layout = layered_layout(graph)
    with _guard:
        if len(_layouts) >= KEPT_LAYOUTS:
            _layouts.pop(next(iter(_layouts)))
        _layouts[key] = layout
    return layout
