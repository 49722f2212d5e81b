"""The dependency graph of models and source tables: order, cycles, up- and downstream."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Dag:
    """Nodes by name with their direct upstream names (all of which are nodes)."""

    upstream: dict[str, list[str]]
    downstream: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological, stable by name

    def __post_init__(self) -> None:
        self.downstream = {name: [] for name in self.upstream}
        for name, parents in self.upstream.items():
            for parent in parents:
                self.downstream[parent].append(name)
        self.order = topological_order(self.upstream)

    def ancestors(self, names: Iterable[str]) -> set[str]:
        return _reach(names, self.upstream)

    def descendants(self, names: Iterable[str]) -> set[str]:
        return _reach(names, self.downstream)


class CycleError(Exception):
    def __init__(self, cycle: list[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def topological_order(upstream: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm; raises CycleError with one cycle, in order, when there is one."""
    waiting = {name: len(set(parents)) for name, parents in upstream.items()}
    children: dict[str, list[str]] = {name: [] for name in upstream}
    for name, parents in upstream.items():
        for parent in set(parents):
            children[parent].append(name)
    ready = deque(sorted(n for n, count in waiting.items() if count == 0))
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for child in sorted(children[name]):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) != len(upstream):
        left = {n for n, count in waiting.items() if count > 0}
        raise CycleError(_find_cycle(left, upstream))
    return order


def _find_cycle(nodes: set[str], upstream: dict[str, list[str]]) -> list[str]:
    """Walk upstream from any node left over by Kahn's algorithm until a node repeats."""
    start = min(nodes)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(p for p in upstream[node] if p in nodes)
    cycle = path[seen[node] :]
    cycle.reverse()  # upstream walk -> reading order: a feeds b feeds ... feeds a
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]


def _reach(names: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [n for name in names for n in edges.get(name, [])]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, []))
    return seen
