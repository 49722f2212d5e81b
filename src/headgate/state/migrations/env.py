"""Alembic environment for the metadata store.

headgate runs migrations itself (see ``headgate.state.migrate``) and hands over its open
connection and schema through ``config.attributes``; no alembic.ini is involved. Given
only ``sqlalchemy.url``, offline mode prints the SQL for an administrator to apply.
"""

from __future__ import annotations

from alembic import context

from headgate.state.tables import metadata

config = context.config
schema: str | None = config.attributes.get("schema")


def run_offline() -> None:
    """Emit the migration SQL for ``sqlalchemy.url`` without connecting."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate on the connection headgate opened; its transaction is committed by headgate."""
    connection = config.attributes["connection"]
    if schema is not None:
        connection = connection.execution_options(schema_translate_map={None: schema})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
