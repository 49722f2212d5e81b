"""YAML that remembers where each value came from, so errors can name the line.

PyYAML's composer keeps a mark on every node; we walk the node tree once and
record the line of every key path. Pydantic's error locations are key paths, so
an invalid option maps straight back to its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from headgate.errors import Location, ProjectError
from headgate.project.textfile import read_text

KeyPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """A parsed YAML mapping and the 1-based line of each key path inside it."""

    path: Path
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)
    line_offset: int = 0  # for YAML embedded in another file (a model's header block)

    def location(self, keypath: KeyPath = ()) -> Location:
        """The closest recorded line for ``keypath`` (falls back to its parents)."""
        probe = tuple(keypath)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        return Location(self.path, line + self.line_offset)

    def validate(self, schema: type[BaseModel], what: str) -> Any:
        """Validate against a Pydantic model; the first problem becomes a ProjectError at its line."""
        try:
            return schema.model_validate(self.data)
        except ValidationError as exc:
            raise _to_project_error(self, exc, schema, what) from None


def parse_yaml(text: str, path: Path, *, line_offset: int = 0) -> YamlDocument:
    """Parse a YAML mapping; syntax errors name the file and line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 1 + line_offset) if mark is not None else 0
        column = (mark.column + 1) if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProjectError(f"invalid YAML: {problem}", Location(path, line, column)) from None
    if node is None:
        return YamlDocument(path, {}, {}, line_offset)
    lines: dict[KeyPath, int] = {}
    data = _construct(node, (), lines, yaml.SafeLoader(""))
    if not isinstance(data, dict):
        raise ProjectError(
            "expected a mapping of options (key: value), found " + type(data).__name__,
            Location(path, node.start_mark.line + 1 + line_offset),
        )
    return YamlDocument(path, data, lines, line_offset)


def load_yaml_file(path: Path) -> YamlDocument:
    return parse_yaml(read_text(path), path)


def _construct(
    node: yaml.Node, keypath: KeyPath, lines: dict[KeyPath, int], loader: yaml.SafeLoader
) -> Any:
    lines.setdefault(keypath, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*keypath, str(key))
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*keypath, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _to_project_error(
    doc: YamlDocument, exc: ValidationError, schema: type[BaseModel], what: str
) -> ProjectError:
    error = exc.errors()[0]
    loc: KeyPath = tuple(p for p in error["loc"] if isinstance(p, str | int))
    where = ".".join(str(p) for p in loc) or what
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(_allowed_keys(schema, loc[:-1])))
        message = f"unknown option '{loc[-1]}' in {what}"
        return ProjectError(message, doc.location(loc), hint=f"allowed here: {allowed}")
    if error["type"] == "missing":
        return ProjectError(f"{what}: missing required option '{where}'", doc.location(loc[:-1]))
    return ProjectError(f"{what}: '{where}': {error['msg']}", doc.location(loc))


def _allowed_keys(schema: type[BaseModel], loc: KeyPath) -> list[str]:
    """Field names allowed at ``loc`` inside ``schema`` (follows nested models and dict values)."""
    model: Any = schema
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field_info = model.model_fields.get(str(part))
        if field_info is None:
            # inside a dict[str, Model]: the key is a user name, keep the value model
            continue
        model = _inner_model(field_info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
