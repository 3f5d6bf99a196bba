"""What ``python app.py`` prints when it starts: a few lines a first-time operator can act on.

Where the arena is (URL), what it stores into (database), what answers (demo or configured
models), when the ratings are recomputed, and what to do next. Built from the settings
alone, so it says what will happen rather than what a log line later reports.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from arena.config import Settings
from arena.schedule import describe

#: Models listed by name on the models line; beyond this, a count.
NAMED_MODELS = 6


def browse_url(host: str, port: int) -> str:
    """The address to open in a browser (a wildcard listen address is not one)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def database_line(url: str) -> str:
    """The database, password hidden; a SQLite file as its full path."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return f"SQLite file {Path(parsed.database).absolute()}"
    return parsed.render_as_string(hide_password=True)


def models_line(settings: Settings) -> str:
    """Demo or configured models, by name when few."""
    enabled = [m.name for m in settings.models if m.enabled]
    names = ", ".join(enabled[:NAMED_MODELS]) + (", ..." if len(enabled) > NAMED_MODELS else "")
    if settings.is_demo:
        return f"{len(enabled)} offline demo models ({names}); no real model is configured"
    off = len(settings.models) - len(enabled)
    return f"{len(enabled)} configured models ({names})" + (f", {off} disabled" if off else "")


def summary(settings: Settings) -> str:
    """The start-up lines, ending with what to do next."""
    url = browse_url(settings.host, settings.port)
    if settings.is_demo:
        step = (
            "open the URL, ask a question and vote; for real models copy arena.example.toml "
            "to arena.toml and set their API keys (README: Running it for real)"
        )
    else:
        step = "open the URL and vote; python -m arena doctor --probe checks every model"
    lines = [
        f"Tanuki Arena is running on {url}",
        f"  database: {database_line(settings.database_url)}",
        f"  models:   {models_line(settings)}",
        f"  ratings:  {describe(settings)}; to rate now: python -m arena recompute",
        f"  next:     {step}; admin page {url}/admin/ (docs/admin.md); stop with Ctrl+C",
    ]
    return "\n".join(lines)
