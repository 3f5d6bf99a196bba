"""Tanuki Arena: settings -> database -> backends -> UI + API -> serve.

python app.py [--host H] [--port P] [--config arena.toml]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import gradio as gr
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from arena import startup
from arena.api import create_api
from arena.backends import build_backends, client_for
from arena.battles import Arena
from arena.cli import database_failure
from arena.config import check_environment, load_settings
from arena.db import make_engine, migrate, session_factory
from arena.errors import ConfigError
from arena.maintenance import start_sweeper
from arena.schedule import start_schedule
from arena.ui import CSS, build_ui
from arena.ui.admin_mount import mount_admin

#: Seconds an idle keep-alive connection stays open (uvicorn's default is 5). Longer than
#: what keeps connections to the app on the other side, nginx's upstream keepalive_timeout
#: (60 s, deploy/nginx) or a browser's: whoever closes an idle connection must be the
#: client, or a request sent on it just as the app closes it is lost (a POST is not
#: retried). Under load the app's timer fires late, which widens that window.
KEEP_ALIVE_S = 75


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Tanuki Arena web app.")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 7860)")
    parser.add_argument("--config", help="path of arena.toml (default ./arena.toml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    if missing := check_environment(settings):  # API keys are read only when a model is called
        sys.exit(f"configuration error: {'; '.join(missing)}")
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = dataclasses.replace(settings, **overrides)

    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
    except (SQLAlchemyError, ImportError, OSError) as exc:  # unreachable, no driver, no folder
        sys.exit(f"error: {database_failure(settings.database_url, exc)}")
    client = client_for(settings)  # pool: two streams per battle allowed at once
    try:
        arena = Arena(settings, session_factory(engine), build_backends(settings.models, client))
    except ConfigError as exc:  # e.g. a rate limit that is not in the limits notation
        sys.exit(f"configuration error: {exc}")
    blocks, i18n = build_ui(arena)
    # Gradio's queue runs at most ``max_threads`` events at once (40 by default): every
    # streaming battle holds one, so the cap must cover the battles allowed to stream.
    blocks.max_threads = settings.stream_concurrency + 16
    blocks.queue(default_concurrency_limit=16)
    api = create_api(arena)
    try:
        mount_admin(api, arena, engine)  # /api/admin, then /admin, behind ARENA_ADMIN_USERS
    except ConfigError as exc:  # e.g. an exports folder others can read
        sys.exit(f"configuration error: {exc}")
    app = gr.mount_gradio_app(
        api,
        blocks,
        path="/",
        i18n=i18n,
        css=CSS,
        run_history=False,
        enable_monitoring=False,
        footer_links=[],
    )
    start_schedule(settings, engine)  # nightly and provisional rating runs (arena.schedule)
    start_sweeper(engine, settings)  # battles left streaming by a dead process end failed
    print(startup.summary(settings), flush=True)  # URL, database, models, schedule, next step
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or "",
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
