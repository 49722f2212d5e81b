"""The README's Sources section tells the truth about the source configuration models.

Every option of every source type's configuration (nested ones included) is named in
it, every source type has an example, and every YAML example of a source parses and
validates against the model headgate loads it with.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from headgate.project.loader import source_types
from headgate.project.yamlfile import parse_yaml
from headgate.sources.extras import DRIVERS, SOURCES_EXTRA

README = Path(__file__).resolve().parents[2] / "README.md"


def sources_section() -> str:
    text = README.read_text()
    start = text.index("\n## Sources\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def yaml_examples(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The configuration models an annotation holds (through Optional, unions, dicts, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def options_of(model: type[BaseModel]) -> set[str]:
    found: set[str] = set()
    pending, seen = [model], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, field in current.model_fields.items():
            found.add(field.alias or name)
            pending.extend(models_in(field.annotation))
    return found


def test_every_option_of_every_source_type_is_documented() -> None:
    section = sources_section()
    missing = {
        kind: sorted(
            option
            for option in options_of(model)
            if f"`{option}`" not in section
            and not re.search(rf"(^|[\s{{,.]){re.escape(option)}:", section, flags=re.M)
        )
        for kind, model in source_types().items()
    }
    assert {kind: names for kind, names in missing.items() if names} == {}


def test_every_source_type_has_an_example_that_validates() -> None:
    types = source_types()
    examples: dict[str, int] = {}
    for example in yaml_examples(README.read_text()):
        kind = (yaml.safe_load(example) or {}).get("type")
        if kind not in types:
            continue  # a delivery or another kind of file
        document = parse_yaml(example, README)
        document.validate(types[kind], f"the README's {kind} example")  # raises if wrong
        examples[kind] = examples.get(kind, 0) + 1
    assert set(examples) == set(types)


def test_the_extras_that_bring_the_drivers_are_listed() -> None:
    section = sources_section()
    assert f"pip install 'headgate[{SOURCES_EXTRA}]'" in section
    for kind in DRIVERS:
        assert f"`{kind}`" in section, kind
