"""Alembic environment: runs on a connection handed in by the app, or on the URL."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from arena.db.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    run(connection)
else:
    import os

    section = config.get_section(config.config_ini_section, {})
    url = os.environ.get("DATABASE_URL") or section.get("sqlalchemy.url") or "sqlite:///arena.db"
    section["sqlalchemy.url"] = url
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
        conn.commit()
