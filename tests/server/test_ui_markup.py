"""The pills, times and model links of the pages, made by Python calls for speed, are the
HTML the templates' macros made: same text, same escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headgate.server.ui.templating import MARKS, _environment

pytestmark = pytest.mark.fast

# the macros as they were, each beside the call that replaced it
AS_MACROS = """
{%- macro pill(status, text=None) -%}
<span class="pill s-{{ status|replace(' ', '_') }}">{{ marks.get(status, ('', ''))[0] }} {{ text or status|replace('_', ' ') }}</span>
{%- endmacro %}
{%- macro when(moment) -%}
{% if moment %}<time datetime="{{ moment.isoformat() }}" title="{{ moment.strftime('%Y-%m-%d %H:%M:%S %Z') }}">{{ ago(moment) }}</time>{% else %}<span class="muted">never</span>{% endif %}
{%- endmacro %}
{%- macro model_link(name, env=None) -%}
<a href="/models/{{ name|urlencode }}{{ '?env=' ~ env if env else '' }}" class="mono">{{ name }}</a>
{%- endmacro %}
{{ pill(status) }}|{{ pill_html(status) }}
{{ pill(status, text) }}|{{ pill_html(status, text) }}
{{ when(moment) }}|{{ when_html(moment) }}
{{ model_link(name, env) }}|{{ model_link_html(name, env) }}
{{ model_link(name) }}|{{ model_link_html(name) }}"""


@pytest.mark.parametrize("status", [*MARKS, "not published", "x y_z", "<b>&"])
def test_python_pills_times_and_links_are_the_macros_html(status: str) -> None:
    template = _environment().from_string(AS_MACROS)
    moments = [None, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1), datetime.now(UTC)]
    for text in (None, "", "cur<rent"):
        for moment in moments:
            for name, env in (("layer_01.m0001", "prod"), ("a b/c&d<é>\"'", "dev&x"), ("x", None)):
                page = template.render(status=status, text=text, moment=moment, name=name, env=env)
                for line in page.strip().splitlines():
                    by_macro, by_call = line.split("|")
                    assert by_call == by_macro
