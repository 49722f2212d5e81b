"""The built-in check types, one module per type or small family.

Every module here is imported when the registry is first used
(:func:`headgate.checks.spec.check_types`), so a new type is a new module with a
``@register``-ed class and nothing else to edit.
"""

from __future__ import annotations
