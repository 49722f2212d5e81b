"""Loading a project folder: config, sources, models, and the DAG between them.

Parsing is the expensive part of a load (sqlglot: about 0.5 ms a model), so each
model file's parse is cached by the hash of its text and its sidecar's; a load
where nothing changed reads files and hashes them, nothing more.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import multiprocessing as mp
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headgate import __version__
from headgate.errors import Location, ProjectError, ProjectErrors
from headgate.project.config import FilesSourceConfig, ProjectConfig
from headgate.project.dag import CycleError, Dag
from headgate.project.models import PARSE_FORMAT, ParsedModel, content_hash, parse_model_file
from headgate.project.root import CONFIG_FILE
from headgate.project.schedules import check_triggers
from headgate.project.steps import Step, steps_of
from headgate.project.textfile import read_text
from headgate.project.yamlfile import load_yaml_file

CACHE_FILE = f".headgate/cache/models-{__version__}-{PARSE_FORMAT}.pickle"
FILE_HASHES = f".headgate/cache/files-{__version__}.pickle"
HASH_CHUNK = 1 << 20
PARALLEL_PARSE_MIN = 300  # below this, starting worker processes costs more than it saves


@dataclass
class SourceTable:
    """One table of a declared source, read by models as ``<source>.<table>``."""

    name: str
    source: str
    table: str
    config: Any  # the table's entry: FileTableConfig for files, the source type's own otherwise
    declared_in: Path
    files: list[tuple[str, int, str]]  # (path relative to root, size, content hash); files only
    kind: str = "files"  # the source's `type:`
    source_config: Any = None  # the whole source file, validated

    @property
    def external(self) -> bool:
        """Read from a system outside the project (a database, an API, a stream) at each run."""
        from headgate.sources.types import source_type

        return source_type(self.kind).external

    @property
    def appends(self) -> bool:
        """Each load adds rows to what earlier loads brought (a stream, a cursor); else it replaces them."""
        from headgate.sources.types import source_type

        return source_type(self.kind).appends(self.config)


@dataclass
class LoadedProject:
    root: Path
    config: ProjectConfig
    models: dict[str, ParsedModel]
    sources: dict[str, SourceTable]
    dag: Dag
    steps: dict[str, Step] = field(default_factory=dict)  # steps/*.yml by name


def load_project(root: Path) -> LoadedProject:
    root = root.resolve()
    config: ProjectConfig = load_yaml_file(root / CONFIG_FILE).validate(ProjectConfig, CONFIG_FILE)
    errors: list[ProjectError] = []
    sources = _load_sources(root, errors)
    models = _load_models(root, errors, config.dialect)
    for name in sorted(set(models) & set(sources)):
        errors.append(
            ProjectError(
                f"model '{name}' has the same name as a source table",
                Location(root / models[name].path),
            )
        )
    dag = _build_dag(root, models, sources, errors) if not errors else None
    steps = steps_of(root, dag.upstream, errors) if dag is not None else {}
    errors.extend(check_triggers(root, config.triggers, sources))
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
    assert dag is not None
    return LoadedProject(root, config, models, sources, dag, steps)


def _load_sources(root: Path, errors: list[ProjectError]) -> dict[str, SourceTable]:
    tables: dict[str, SourceTable] = {}
    hashes: dict[str, tuple[int, int, str]] = _read_cache(root, FILE_HASHES)
    known = dict(hashes)
    folder = root / "sources"
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            doc = load_yaml_file(path)
            kind = doc.data.get("type")
            types = source_types()
            schema = types.get(str(kind))
            if schema is None:
                allowed = ", ".join(sorted(types))
                raise ProjectError(
                    f"unknown source type '{kind}'",
                    doc.location(("type",)),
                    hint=f"allowed: {allowed}",
                )
            config = doc.validate(schema, "source")
            source = path.stem.lower()
            for table, table_config in config.tables.items():
                name = f"{source}.{table.lower()}"
                files = (
                    _matching_files(root, table_config.path, hashes)
                    if isinstance(config, FilesSourceConfig)
                    else []
                )
                tables[name] = SourceTable(
                    name, source, table.lower(), table_config, path, files, str(kind), config
                )
        except ProjectError as exc:
            errors.append(exc)
    if hashes != known:
        _write_cache(root, FILE_HASHES, hashes)
    return tables


def source_types() -> dict[str, type[Any]]:
    """Every source type's configuration model by the name a source file gives in ``type:``."""
    from headgate.sources.types import source_types as registered

    return {name: kind.config for name, kind in registered().items()}


def _matching_files(
    root: Path, pattern: str, hashes: dict[str, tuple[int, int, str]]
) -> list[tuple[str, int, str]]:
    """Files a source path or glob matches, with their content hash.

    Content, not modification time, decides whether a file changed: rewriting the
    same bytes rebuilds nothing. Hashes are cached by (size, mtime) so unchanged
    files are not read again.
    """
    full = pattern if os.path.isabs(pattern) else str(root / pattern)
    found = []
    for match in sorted(glob.glob(full, recursive=True)):
        stat = os.stat(match)
        cached = hashes.get(match)
        if cached is None or cached[:2] != (stat.st_size, stat.st_mtime_ns):
            cached = (stat.st_size, stat.st_mtime_ns, _file_digest(match))
            hashes[match] = cached
        found.append((os.path.relpath(match, root), stat.st_size, cached[2]))
    return found


def _file_digest(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _model_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root / "models"):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for filename in sorted(filenames):
            if filename.endswith((".sql", ".py")) and not filename.startswith((".", "_")):
                found.append(Path(dirpath, filename).relative_to(root))
    return found


def _load_models(
    root: Path, errors: list[ProjectError], dialect: str = "duckdb"
) -> dict[str, ParsedModel]:
    cache: dict[str, tuple[str, ParsedModel]] = _read_cache(root, CACHE_FILE)
    files: list[tuple[Path, str, str | None, str]] = []
    for relative in _model_files(root):
        sidecar_path = root / relative.with_suffix(".yml")
        try:
            text = read_text(root / relative)
            sidecar = read_text(sidecar_path) if sidecar_path.is_file() else None
        except ProjectError as exc:  # not UTF-8, or unreadable
            errors.append(exc)
            continue
        read_as = [] if dialect == "duckdb" else [dialect]  # the cache knows what it read
        files.append((relative, text, sidecar, content_hash(text, sidecar or "", *read_as)))
    misses = [f for f in files if cache.get(str(f[0]), ("",))[0] != f[3]]
    parsed_now = _parse_all(root, misses, dialect)
    fresh: dict[str, tuple[str, ParsedModel]] = {}
    models: dict[str, ParsedModel] = {}
    for relative, _, _, key in files:
        outcome = parsed_now.get(str(relative)) or cache[str(relative)][1]
        if isinstance(outcome, ProjectError):
            errors.append(outcome)
            continue
        fresh[str(relative)] = (key, outcome)
        if outcome.name in models:
            other = models[outcome.name].path
            message = f"two files define model '{outcome.name}' (also {other})"
            errors.append(ProjectError(message, Location(root / relative)))
            continue
        models[outcome.name] = outcome
    if fresh.keys() != cache.keys() or any(cache[k][0] != v[0] for k, v in fresh.items()):
        _write_cache(root, CACHE_FILE, fresh)
    return models


def _parse_all(
    root: Path, files: list[tuple[Path, str, str | None, str]], dialect: str
) -> dict[str, ParsedModel | ProjectError]:
    """Parse files the cache does not hold, on every core when there are many."""
    workers = min(os.cpu_count() or 1, 8)
    if len(files) < PARALLEL_PARSE_MIN or workers < 2 or "fork" not in mp.get_all_start_methods():
        return dict(_parse_chunk(root, files, dialect))
    chunks = [files[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        results = pool.map(_parse_chunk, [root] * workers, chunks, [dialect] * workers)
        return {name: outcome for chunk in results for name, outcome in chunk}


def _parse_chunk(
    root: Path, files: list[tuple[Path, str, str | None, str]], dialect: str = "duckdb"
) -> list[tuple[str, ParsedModel | ProjectError]]:
    outcomes: list[tuple[str, ParsedModel | ProjectError]] = []
    for relative, text, sidecar, _ in files:
        try:
            outcomes.append(
                (str(relative), parse_model_file(root, relative, text, sidecar, dialect))
            )
        except ProjectError as exc:
            outcomes.append((str(relative), exc))
    return outcomes


def _read_cache(root: Path, name: str) -> Any:
    try:
        with open(root / name, "rb") as handle:
            data = pickle.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return {}


def _write_cache(root: Path, name: str, entries: dict[str, Any]) -> None:
    target = root / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            pickle.dump(entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, target)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _build_dag(
    root: Path,
    models: dict[str, ParsedModel],
    sources: dict[str, SourceTable],
    errors: list[ProjectError],
) -> Dag | None:
    known = sorted(set(models) | set(sources))
    upstream: dict[str, list[str]] = {name: [] for name in sources}
    for name, model in models.items():
        parents = []
        for ref in model.references:
            target = _resolve(ref, models, sources)
            if target is None:
                close = difflib.get_close_matches(ref, known, n=3, cutoff=0.6)
                hint = (
                    f"did you mean {', '.join(close)}?"
                    if close
                    else "declare it in sources/*.yml or add a model for it"
                )
                errors.append(
                    ProjectError(
                        f"'{ref}' is neither a model nor a declared source table",
                        Location(root / model.path, model.reference_lines.get(ref, 0)),
                        hint=hint,
                    )
                )
            elif target == name:
                errors.append(
                    ProjectError(
                        f"model '{name}' reads itself ('{ref}'): its table does not exist "
                        "while it is being built",
                        Location(root / model.path, model.reference_lines.get(ref, 0)),
                        hint="read the models and sources it is built from; to keep its "
                        "old rows and add new ones, make it materialized: incremental",
                    )
                )
            else:
                parents.append(target)
        upstream[name] = sorted(set(parents))
    if errors:
        return None
    try:
        return Dag(upstream)
    except CycleError as exc:
        first = models[exc.cycle[0]]
        errors.append(
            ProjectError(
                "models depend on each other in a cycle (each feeds the next): "
                + " -> ".join(exc.cycle),
                Location(root / first.path),
                hint="a model cannot read, directly or not, from a model downstream of it",
            )
        )
        return None


def _resolve(
    ref: str, models: dict[str, ParsedModel], sources: dict[str, SourceTable]
) -> str | None:
    """A reference names a model or source by its full name; ``main.x`` also reaches model ``x``."""
    if ref in models or ref in sources:
        return ref
    if ref.startswith("main.") and ref[5:] in models:
        return ref[5:]
    return None
