"""A new kind of source is one module: its config model and its load, registered by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from headgate import Project
from headgate.project.config import StrictModel
from headgate.sources import types
from headgate.sources.types import LoadedSegment, LoadingSourceType, LoadRequest, create_segment
from tests.support import write_project


class CounterTable(StrictModel):
    per_load: int = 3


class CounterSource(StrictModel):
    type: str = "counter"
    tables: dict[str, CounterTable]


class CounterSourceType(LoadingSourceType):
    """Each load brings ``per_load`` new numbers after the previous load's last one."""

    name = "counter"
    config: ClassVar[type[StrictModel]] = CounterSource

    def appends(self, table: Any) -> bool:
        return True

    def load(self, request: LoadRequest) -> LoadedSegment:
        first = int(request.after["value"]) + 1 if request.after else 1
        last = first + request.source.config.per_load - 1
        data = pa.table({"n": list(range(first, last + 1))})
        rows = create_segment(request.session, request.segment, [data])
        return LoadedSegment(rows, cursor={"type": "int", "value": last}, detail={"loaded": rows})


@pytest.fixture
def counter() -> Any:
    kind = types.register(CounterSourceType())
    yield kind
    types._REGISTRY.pop(kind.name)


def test_a_registered_source_type_loads_like_the_built_in_ones(
    counter: Any, tmp_path: Path
) -> None:
    root = write_project(
        tmp_path,
        {
            "sources/numbers.yml": "type: counter\ntables:\n  seq: {per_load: 4}\n",
            "models/total.sql": "select count(*) as n, sum(n) as s from numbers.seq",
        },
    )
    with Project.load(root) as project:
        assert project.run().status == "success"
        assert project.run().status == "success"  # a second load appends four more
        assert project.query("select n, s from total").to_pylist() == [{"n": 8, "s": 36}]


def test_an_unknown_source_type_lists_the_registered_ones(tmp_path: Path) -> None:
    from headgate.errors import ProjectError

    root = write_project(tmp_path, {"sources/x.yml": "type: kafka\ntables: {}\n"})
    with pytest.raises(ProjectError) as caught:
        Project.load(root)
    shown = caught.value.render()
    assert "x.yml:1: unknown source type 'kafka'" in shown
    assert "postgres" in shown and "redis_stream" in shown
