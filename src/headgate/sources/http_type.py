"""HTTP APIs: every load reads the endpoint whole, page by page, into a new segment."""

from __future__ import annotations

from typing import ClassVar

from headgate.project.config import StrictModel
from headgate.sources.http import HttpSourceConfig
from headgate.sources.types import (
    LoadedSegment,
    LoadingSourceType,
    LoadRequest,
    create_segment,
    reporting,
)


class HttpSourceType(LoadingSourceType):
    name = "http"
    config: ClassVar[type[StrictModel]] = HttpSourceConfig

    def load(self, request: LoadRequest) -> LoadedSegment:
        from headgate.sources.http import read_endpoint

        source = request.source
        pages = read_endpoint(
            source.source_config, source.table, project_dir=request.root, source_name=source.source
        )
        rows = create_segment(request.session, request.segment, reporting(pages, request.progress))
        return LoadedSegment(rows, detail={"loaded": rows})


TYPES = (HttpSourceType(),)
