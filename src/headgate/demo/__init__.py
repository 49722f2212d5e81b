"""``headgate demo``: a complete online-shop project to try headgate on.

The project has raw exports in three formats, about fifteen SQL models in staging,
intermediate and mart layers, one Python model, and data defects planted on purpose so
the profiler, the suggested checks and write-audit-publish have something real to catch.
"""

from __future__ import annotations

from headgate.demo.summary import DemoDefect, DemoSummary
from headgate.demo.writer import write_demo_project

__all__ = ["DemoDefect", "DemoSummary", "write_demo_project"]
