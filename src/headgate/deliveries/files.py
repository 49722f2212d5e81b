"""Writing delivery outputs so that a reader never sees half a file.

Every output is written to a temporary name in its destination folder, flushed to
disk, then renamed over the destination with ``os.replace``: on POSIX a rename
within one file system is atomic, so a reader (a BI tool polling the folder, a
colleague opening the report) sees the previous file or the new one, whole. A
failure removes the temporary file and leaves the previous output untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headgate.deliveries.base import DeliveryContext

TEMP_SUFFIX = ".tmp"


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path`` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    # created here (not by the writer) so it has the umask's permissions, as a normal file would
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_write(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def output_path(template: str, ctx: DeliveryContext, name: str) -> Path:
    """An output path with ``{date}``, ``{environment}`` and ``{name}`` filled, under the project."""
    filled = template.format(
        date=ctx.now.date().isoformat(), environment=ctx.environment, name=name
    )
    path = Path(filled).expanduser()
    return path if path.is_absolute() else ctx.root / path


def shown(path: Path, root: Path) -> str:
    """``path`` as a person reads it: relative to the project when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    # makes the rename itself durable; some file systems refuse fsync on a folder
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
