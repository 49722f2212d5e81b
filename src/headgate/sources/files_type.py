"""Files in the project (CSV, TSV, Parquet, JSON): each loaded once, behind a view per file set.

Files are part of the project's content, so they are not read into segments at each run:
their fingerprint covers every file, and ``sources/files.py`` loads each new file once (sources/files.py).
"""

from __future__ import annotations

from typing import ClassVar

from headgate.project.config import FilesSourceConfig, StrictModel
from headgate.sources.types import SourceType


class FilesSourceType(SourceType):
    name = "files"
    config: ClassVar[type[StrictModel]] = FilesSourceConfig
    external = False


TYPES = (FilesSourceType(),)
