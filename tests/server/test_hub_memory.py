"""The hub sets what it keeps for its lifetime aside from the cyclic garbage collector (a
full collection no longer walks the loaded project during a page), and whatever it set
aside and later dropped (a project it reloaded) is still freed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from headgate.server.hub import Hub, settle_memory
from tests.server.hubs import make_project

pytestmark = pytest.mark.fast


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_the_loaded_project_is_set_aside_from_the_collector(tmp_path: Path) -> None:
    hub = Hub(make_project(tmp_path / "shop"))
    try:
        assert gc.get_freeze_count() > 0
        assert hub.project.loaded is not None
    finally:
        hub.close()


def test_what_was_set_aside_and_dropped_is_freed_when_set_aside_again() -> None:
    kept = Node()
    settle_memory()  # as the hub does when it starts
    gone = weakref.ref(kept)
    del kept
    gc.collect()
    assert gone() is not None  # set aside: a collection does not look at it
    settle_memory()  # as the hub does after reading a changed project again
    assert gone() is None
