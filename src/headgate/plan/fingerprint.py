"""Fingerprints: same fingerprint, same data; so nothing is built twice, in any environment.

A model's fingerprint hashes its normalized SQL (sqlglot's rendering without
comments or layout), the options that change its data, and its upstream
fingerprints, so a change anywhere upstream reaches everything downstream. A
file source's fingerprint hashes its declaration and the files it matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from headgate.project.loader import LoadedProject

FINGERPRINT_VERSION = "1"  # bump when the recipe changes, so old tables are not mistaken for new


def fingerprints(project: LoadedProject) -> dict[str, str]:
    """Fingerprint of every node in the DAG, computed in dependency order."""
    result: dict[str, str] = {}
    for name in project.dag.order:
        result[name] = node_fingerprint(project, name, result)
    return result


def node_fingerprint(project: LoadedProject, name: str, upstream: Mapping[str, str]) -> str:
    """One node's fingerprint over the given fingerprints of its upstream nodes.

    Given the versions an environment publishes upstream, it tells whether the node's
    own definition changed: equal to its published fingerprint means only upstream did.
    """
    parents = [f"{p}={upstream[p]}" for p in project.dag.upstream[name]]
    if name in project.sources:
        source = project.sources[name]
        # A file source's version is its files (by content) and how they are read; the
        # validation settings (contract, policy, reject limit) decide which rows pass,
        # and changing them must not reload files already loaded.
        payload: dict[str, object] = {
            "type": source.kind,
            "source": source.config.model_dump(
                mode="json", exclude=set(getattr(source.config, "VALIDATION", {"description"}))
            ),
            "files": sorted(digest for _, _, digest in source.files),
        }
        if source.external:
            # where the data comes from, not what it is: secrets stay unresolved here
            payload["connection"] = source.source_config.model_dump(
                mode="json", exclude={"description", "tables"}
            )
    else:
        model = project.models[name]
        payload = {
            "language": model.language,
            "query": model.normalized,
            "options": model.options.data_options(),
        }
    return _digest(payload, parents)


def _digest(payload: dict[str, object], parents: list[str]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(FINGERPRINT_VERSION.encode())
    digest.update(json.dumps(payload, sort_keys=True, default=str).encode())
    for parent in parents:
        digest.update(b"\0" + parent.encode())
    return digest.hexdigest()
