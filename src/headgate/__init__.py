"""headgate: a DataOps platform. Pipelines kept in git, built by fingerprint, published atomically.

The one facade is :class:`headgate.Project`; the CLI and the server only wrap it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from headgate.facade import Project

__all__ = ["Project", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily so `headgate --help` does not pay for the engine and the parser.
    if name == "Project":
        from headgate.facade import Project

        return Project
    raise AttributeError(name)
