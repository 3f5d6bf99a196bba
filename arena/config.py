"""One source of configuration: ``arena.toml`` plus ``ARENA_*`` environment overrides.

Settings are built once at start-up (:func:`load_settings`) and passed explicitly.
Secrets (API keys, salts, admin passwords) are read only from the environment: the
TOML file names the *variable* that holds a key, never the key itself.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arena.errors import ConfigError
from arena.model_config import (
    MIN_THINKING_BUDGET,
    PROVIDERS,
    TANUKI_SYSTEM_PROMPT,
    ModelSpec,
    coerce,
    demo_models,
    parse_model,
)

__all__ = [  # ModelSpec and its helpers live in arena.model_config, named here too
    "DEFAULT_CONFIG_PATH",
    "MIN_THINKING_BUDGET",
    "PROVIDERS",
    "SECRET_FIELDS",
    "TANUKI_SYSTEM_PROMPT",
    "ModelSpec",
    "Settings",
    "check_environment",
    "demo_models",
    "env_name",
    "load_settings",
    "missing_keys",
    "settings_help",
]

DEFAULT_CONFIG_PATH = "arena.toml"


def _setting(default: Any, help: str, env: str | None = None) -> Any:
    """A settings field: its default, its help text and (optionally) its env var name."""
    return field(default=default, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class Settings:
    """Every setting of the arena. Each has a default and a help text (see README)."""

    database_url: str = _setting(
        "sqlite:///arena.db",
        "SQLAlchemy URL of the database (SQLite file by default).",
        env="DATABASE_URL",
    )
    host: str = _setting("127.0.0.1", "Address the web server listens on.")
    port: int = _setting(7860, "Port the web server listens on.")
    max_turns: int = _setting(5, "Turns a volunteer may have in one battle before voting.")
    max_prompt_chars: int = _setting(4000, "Longest prompt accepted, in characters.")
    connect_timeout: float = _setting(10.0, "Seconds to open a connection to a model.")
    first_token_timeout: float = _setting(
        60.0, "Seconds to wait for a model's first token (answer or reasoning)."
    )
    reasoning_timeout: float = _setting(
        240.0,
        "Seconds a reasoning model may think (from its first reasoning token) before its "
        "answer's text must start; total_timeout still bounds the whole answer.",
    )
    show_reasoning_after_vote: bool = _setting(
        False,
        "Show a reasoning model's thinking to the volunteer after the vote (never before).",
    )
    total_timeout: float = _setting(300.0, "Seconds a whole answer may take.")
    retries: int = _setting(2, "Retries of a failed model call before its first token.")
    stream_interval: float = _setting(
        0.05, "Seconds between screen updates while streaming (first text shows at once)."
    )
    stream_concurrency: int = _setting(256, "Battles streaming at once in one process.")
    max_output_chars: int = _setting(
        32000, "Longest answer kept, in characters; a longer one is cut (finish reason length)."
    )
    default_language: str = _setting("ja", "UI language when the browser states none (ja|en).")
    secret: str = _setting(
        "",
        "Secret that signs browser state; set it so voters survive restarts.",
        env="ARENA_SECRET",
    )
    ip_salt: str = _setting("", "Secret salt for hashing voter IP addresses.", env="ARENA_IP_SALT")
    export_salt: str = _setting(
        "",
        "Secret salt for pseudonymising voters in exports; unset: a random one made on the "
        "first export and kept in the database (docs/admin.md, Pseudonyms).",
        env="ARENA_EXPORT_SALT",
    )
    export_license: str = _setting(
        "",
        "License of exported votes, as a Hugging Face license id (e.g. cc-by-4.0); written "
        "into the dataset card beside an export (unset: unknown).",
    )
    # Issue 18: the first-visit dialog's wording and the progress header's goal.
    consent_ja: str = _setting(
        "",
        "First-visit dialog, Japanese: what a volunteer accepts before the first prompt, one "
        "point per line (empty: the built-in wording; a change asks every browser again).",
    )
    consent_en: str = _setting("", "First-visit dialog, English: as consent_ja.")
    vote_goal: int = _setting(
        10000, "The arena's goal in blind votes, shown as a gauge in the progress header."
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (), "Proxy addresses whose X-Forwarded-For is believed (comma-separated in env)."
    )
    rating_anchor: str = _setting("Tanuki-8B-dpo-v1.0", "Model fixed at rating 1000.")
    rating_ci: str = _setting("sandwich", "Confidence interval method (sandwich|bootstrap).")
    rating_rounds: int = _setting(100, "Bootstrap rounds when rating_ci is bootstrap.")
    recompute_at: str = _setting(
        "03:00",
        "Nightly in-app recomputation time HH:MM in recompute_timezone; empty or off disables it.",
    )
    recompute_timezone: str = _setting(
        "Asia/Tokyo", "Time zone of recompute_at and of the times the leaderboard shows."
    )
    provisional_every_minutes: int = _setting(
        5,
        "While the arena is young, a provisional leaderboard every this many minutes when "
        "new votes arrived; 0 disables it.",
    )
    provisional_until_votes: int = _setting(
        1000, "The arena is young (provisional refreshes run) until it has this many votes."
    )
    rating_min_votes: int = _setting(
        20, "Votes a model needs in the fit to be rated; fewer: listed as not enough votes yet."
    )
    sampling: str = _setting(
        "active",
        "How blind battles pick their pair (active|weighted): active: mostly the pair whose "
        "vote settles the board's order soonest (from the latest rating run), 15% weighted "
        "(docs/ratings.md); weighted: by sample_weight, rare pairs first.",
    )
    admin_users: str = _setting(
        "",
        "Admins as user:HASH pairs, comma-separated (env only); HASH from python -m arena "
        "hash-password (PBKDF2).",
        env="ARENA_ADMIN_USERS",
    )
    demo_models: bool = _setting(
        False, "Use the offline demo models even when real models are configured."
    )
    rate_voters_per_address: str = _setting(
        "20/hour", "New voters one client address may be issued (limits notation)."
    )
    rate_battles_per_voter: str = _setting("30/10 minutes", "New battles per voter.")
    rate_battles_per_address: str = _setting("300/10 minutes", "New battles per client address.")
    rate_turns_per_voter: str = _setting(
        "90/10 minutes", "Prompts and regenerations per voter (every turn, the first included)."
    )
    rate_turns_per_address: str = _setting(
        "900/10 minutes", "Prompts and regenerations per client address."
    )
    rate_votes_per_voter: str = _setting("30/10 minutes", "Votes per voter.")
    rate_votes_per_address: str = _setting("300/10 minutes", "Votes per client address.")
    limits_storage: str = _setting(
        "auto",
        "Where rate-limit counters live: memory, database or redis; auto = redis when "
        "ARENA_REDIS_URL is set, the database unless it is SQLite, else memory.",
    )
    redis_url: str = _setting(
        "",
        "Redis URL for shared rate-limit counters (redis://host:port/db).",
        env="ARENA_REDIS_URL",
    )
    min_read_seconds: float = _setting(
        1.5, "A vote sooner than this after long answers finished is flagged as too fast."
    )
    min_read_chars: int = _setting(
        200, "Answers longer than this (characters, either side) need min_read_seconds."
    )
    cap_votes_per_voter_day: int = _setting(
        100, "Votes of one voter counted per UTC day; later ones are excluded at recompute."
    )
    cap_votes_per_address_day: int = _setting(
        1000, "Votes from one client address counted per UTC day (excluded beyond)."
    )
    rigging_fdr: float = _setting(
        0.01,
        "False discovery rate of the steering and outlier tests at recompute (0 turns them off).",
    )
    pow_gate: bool = _setting(
        False, "Ask a new voter's browser to solve a proof-of-work challenge (ALTCHA)."
    )
    pow_max_number: int = _setting(
        200000, "Difficulty of the proof-of-work: the largest number the browser may try."
    )
    access_codes: str = _setting(
        "",
        "Access codes for a closed evaluation, comma-separated (env only); empty = open.",
        env="ARENA_ACCESS_CODES",
    )
    models: tuple[ModelSpec, ...] = _setting((), "The models, from [[models]] in arena.toml.")

    @property
    def is_demo(self) -> bool:
        """True when the arena runs on the offline demo models."""
        return any(m.demo for m in self.models)

    def __repr__(self) -> str:
        """Every setting, secrets hidden (and the database password)."""
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = "***" if value else ""
            elif f.name == "database_url":
                value = _hide_password(value)
            elif f.name == "models":
                value = tuple(m.name for m in value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


SECRET_FIELDS = {"secret", "ip_salt", "export_salt", "admin_users", "access_codes", "redis_url"}


def settings_help() -> dict[str, str]:
    """Map each setting's name to its help text (used by the README test and --help)."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(Settings)}


def env_name(f: dataclasses.Field) -> str:
    """The environment variable that overrides setting ``f``."""
    return f.metadata.get("env") or f"ARENA_{f.name.upper()}"


def missing_keys(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Enabled models whose ``api_key_env`` is not set: model name -> variable to set.

    Only models that name an ``api_key_env`` need it (a vLLM server may run without a key).
    """
    env = os.environ if env is None else env
    return {
        m.name: m.api_key_env
        for m in settings.models
        if m.enabled and m.api_key_env and not env.get(m.api_key_env)
    }


def check_environment(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """What the environment lacks for the enabled models: one line per model, with the fix.

    Keys are read at call time, so without this check a missing one shows only as
    failed battles; ``python app.py`` refuses to start instead.
    """
    return [
        f"model {name!r}: set the environment variable {var} (its API key)"
        for name, var in missing_keys(settings, env).items()
    ]


def load_settings(
    path: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    providers: set[str] | None = None,
) -> Settings:
    """Build the settings from a TOML file and the environment.

    ``path`` defaults to ``$ARENA_CONFIG`` or ``arena.toml`` (optional when absent).
    Raises :class:`ConfigError` naming the file, the key and what is wrong.
    """
    env = dict(os.environ if env is None else env)
    providers = providers or set(PROVIDERS)
    explicit = path is not None or "ARENA_CONFIG" in env
    cfg_path = Path(path or env.get("ARENA_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from exc
    elif explicit:
        raise ConfigError(f"{cfg_path}: configuration file not found")

    fields = {f.name: f for f in dataclasses.fields(Settings)}
    section = data.get("arena", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{cfg_path}: [arena] must be a table")
    if "models" in section:
        raise ConfigError(f"{cfg_path}: models go in [[models]] tables, not [arena]")
    unknown = (set(data) - {"arena", "models"}) | {f"arena.{k}" for k in set(section) - set(fields)}
    if unknown:
        raise ConfigError(f"{cfg_path}: unknown key(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in section.items():
        if name in SECRET_FIELDS:
            raise ConfigError(
                f"{cfg_path}: arena.{name}: secrets come only from the environment "
                f"({env_name(fields[name])})"
            )
        values[name] = coerce(value, fields[name].default, f"{cfg_path}: arena.{name}")
    for name, f in fields.items():
        var = env_name(f)
        if name != "models" and var in env:
            values[name] = coerce(env[var], f.default, f"environment {var}")

    raw_models = data.get("models", [])
    if not isinstance(raw_models, list):
        raise ConfigError(f"{cfg_path}: models must be an array of tables ([[models]])")
    models = tuple(
        parse_model(raw, f"{cfg_path}: models[{i}]", providers) for i, raw in enumerate(raw_models)
    )
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{cfg_path}: models: duplicate name(s) {', '.join(dupes)}")
    if values.get("demo_models") or not models:
        models = demo_models()
    values["models"] = models

    settings = Settings(**values)
    _check(settings, str(cfg_path))
    if not settings.secret:
        settings = dataclasses.replace(settings, secret=secrets.token_hex(32))
    return settings


def _check(s: Settings, where: str) -> None:
    if s.default_language not in ("ja", "en"):
        raise ConfigError(f"{where}: arena.default_language: expected 'ja' or 'en'")
    if s.rating_ci not in ("sandwich", "bootstrap"):
        raise ConfigError(f"{where}: arena.rating_ci: expected 'sandwich' or 'bootstrap'")
    if s.sampling not in ("weighted", "active"):
        raise ConfigError(f"{where}: arena.sampling: expected 'weighted' or 'active'")
    if s.reasoning_timeout <= 0:
        raise ConfigError(f"{where}: arena.reasoning_timeout: must be > 0")
    for name in ("max_turns", "max_prompt_chars", "stream_concurrency", "port", "max_output_chars",
                 "vote_goal"):  # fmt: skip
        if getattr(s, name) <= 0:
            raise ConfigError(f"{where}: arena.{name}: must be > 0")
    if s.recompute_at.strip().lower() not in ("", "off"):
        hh, _, mm = s.recompute_at.strip().partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ConfigError(
                f"{where}: arena.recompute_at: expected HH:MM or off, got {s.recompute_at!r}"
            )
    try:
        ZoneInfo(s.recompute_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{where}: arena.recompute_timezone: unknown time zone {s.recompute_timezone!r} "
            "(an IANA name such as Asia/Tokyo or UTC; pip install tzdata if none is known)"
        ) from exc
    for name in ("provisional_every_minutes", "provisional_until_votes", "rating_min_votes"):
        if getattr(s, name) < 0:
            raise ConfigError(f"{where}: arena.{name}: must be >= 0")
    if len([m for m in s.models if m.enabled]) < 2:
        raise ConfigError(f"{where}: models: at least two enabled models are needed for battles")
