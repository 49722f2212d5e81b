"""Secrets: where ``${secret:NAME}`` values come from, and that they never show in messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from headgate.project.config import StrictModel
from headgate.sources import (
    SOURCE_CONFIGS,
    HttpSourceConfig,
    PostgresSourceConfig,
    Secrets,
    SourceError,
    mask,
    mask_url_passwords,
    resolve_secrets,
)


@pytest.fixture(autouse=True)
def _no_outside_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOP_DB_URL", "HEADGATE_SECRET_SHOP_DB_URL", "HEADGATE_SECRETS_FILE", "TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_environment_variable_is_used_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_DB_URL", "postgresql://a:pw@h/db")
    monkeypatch.setenv("HEADGATE_SECRET_SHOP_DB_URL", "postgresql://other")
    value = resolve_secrets("${secret:SHOP_DB_URL}", project_dir=tmp_path)
    assert value == "postgresql://a:pw@h/db"


def test_prefixed_variable_and_several_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADGATE_SECRET_USER", "alice")
    monkeypatch.setenv("HEADGATE_SECRET_PASS", "p@ss")
    value = resolve_secrets("u=${secret:USER} p=${secret: PASS }", project_dir=tmp_path)
    assert value == "u=alice p=p@ss"


def test_project_secrets_file(tmp_path: Path) -> None:
    (tmp_path / ".headgate").mkdir()
    (tmp_path / ".headgate" / "secrets.yml").write_text("SHOP_DB_URL: sqlite-file.db\nPORT: 5432\n")
    assert resolve_secrets("${secret:SHOP_DB_URL}", project_dir=tmp_path) == "sqlite-file.db"
    assert resolve_secrets("${secret:PORT}", project_dir=tmp_path) == "5432"


def test_secrets_file_named_by_environment_wins_over_project_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".headgate").mkdir()
    (tmp_path / ".headgate" / "secrets.yml").write_text("TOKEN: from-project\n")
    other = tmp_path / "ops-secrets.yml"
    other.write_text("TOKEN: from-ops-file\n")
    monkeypatch.setenv("HEADGATE_SECRETS_FILE", str(other))
    assert resolve_secrets("${secret:TOKEN}", project_dir=tmp_path) == "from-ops-file"


def test_missing_secret_names_it_and_every_place_looked(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_secrets("${secret:SHOP_DB_URL}", project_dir=tmp_path)
    message = caught.value.render()
    assert "secret SHOP_DB_URL is not set" in message
    assert "HEADGATE_SECRET_SHOP_DB_URL" in message
    assert str(tmp_path / ".headgate" / "secrets.yml") in message
    assert "no such file" in message


def test_invalid_secrets_file_error_does_not_quote_its_content(tmp_path: Path) -> None:
    (tmp_path / ".headgate").mkdir()
    (tmp_path / ".headgate" / "secrets.yml").write_text("OK: fine\nTOKEN: [hunter2-secret\n")
    with pytest.raises(SourceError) as caught:
        resolve_secrets("${secret:TOKEN}", project_dir=tmp_path)
    assert "not valid YAML" in caught.value.message
    assert "hunter2" not in caught.value.render()


def test_invalid_secret_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="invalid secret reference"):
        resolve_secrets("${secret:1-bad}", project_dir=tmp_path)


def test_mask_hides_secret_in_plain_and_url_encoded_forms() -> None:
    secret = "p@ss/word w"
    text = f"failed: {secret} and p%40ss%2Fword%20w and p%40ss%2Fword+w"
    masked = mask(text, [secret])
    assert "p@ss" not in masked and "p%40ss" not in masked
    assert masked.count("***") == 3


def test_mask_hides_url_passwords_that_are_not_secrets() -> None:
    text = "cannot reach postgresql://bob:typed-in@db.example:5432/shop (refused)"
    assert (
        mask_url_passwords(text)
        == "cannot reach postgresql://bob:***@db.example:5432/shop (refused)"
    )
    assert "typed-in" not in mask(text, [])


def test_secrets_masks_what_it_resolved_and_derived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN", "tok-123456")
    secrets = Secrets(tmp_path)
    header = f"Bearer {secrets.resolve('${secret:TOKEN}')}"
    basic = secrets.basic_auth_token("user", "pw-987")
    assert secrets.mask(f"sent {header} and Basic {basic}") == "sent Bearer *** and Basic ***"


def test_source_configs_cover_the_database_and_http_types() -> None:
    assert set(SOURCE_CONFIGS) == {"postgres", "mysql", "sqlite", "http", "nats", "redis_stream"}
    assert all(issubclass(model, StrictModel) for model in SOURCE_CONFIGS.values())


def test_database_table_needs_exactly_one_of_table_or_query() -> None:
    ok = PostgresSourceConfig.model_validate(
        {
            "type": "postgres",
            "url": "${secret:SHOP_DB_URL}",
            "tables": {
                "customers": {"table": "public.customers", "cursor": "updated_at"},
                "big": {"query": "select 1"},
                "orders": {"table": "public.orders", "cursor": "id", "batch_rows": 200000},
            },
        }
    )
    assert ok.tables["orders"].batch_rows == 200000
    for bad in ({"table": "a", "query": "select 1"}, {}, {"table": "a", "cursr": "id"}):
        with pytest.raises(ValidationError):
            PostgresSourceConfig.model_validate(
                {"type": "postgres", "url": "x", "tables": {"t": bad}}
            )


def test_http_pagination_settings_are_checked() -> None:
    def config(pagination: dict[str, object]) -> HttpSourceConfig:
        return HttpSourceConfig.model_validate(
            {"type": "http", "base_url": "http://x", "tables": {"t": {"pagination": pagination}}}
        )

    assert (
        config({"style": "cursor", "cursor_path": "next"}).tables["t"].pagination.style == "cursor"
    )
    for bad in (
        {"style": "cursor"},  # where is the next cursor?
        {"style": "offset"},  # how many per request?
        {"style": "page", "cursor_path": "next"},  # a cursor setting on page paging
        {"style": "pages"},
    ):
        with pytest.raises(ValidationError):
            config(bad)
    with pytest.raises(ValidationError):
        HttpSourceConfig.model_validate(
            {
                "type": "http",
                "base_url": "http://x",
                "auth": {"type": "api_key", "value": "k"},  # neither header nor query_param
                "tables": {},
            }
        )


def test_a_short_secret_is_masked_where_it_stands_alone_not_inside_words() -> None:
    text = "loading table a_b with password=ab1; retry ab1 (ab12 and tab1e are other words)"
    masked = mask(text, ["ab1"])
    assert masked == (
        "loading table a_b with password=***; retry *** (ab12 and tab1e are other words)"
    )
    # one character: the log stays readable and the masks do not spell out where it was
    assert mask("a table of data, password a", ["a"]) == "*** table of data, password ***"


def test_a_long_secret_is_masked_even_inside_a_longer_word() -> None:
    assert mask("id=tok-123456789xyz", ["tok-123456789"]) == "id=***xyz"
