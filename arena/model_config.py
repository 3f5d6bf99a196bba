"""One model of the arena as configured: a ``[[models]]`` entry of ``arena.toml``.

:class:`ModelSpec` is what a backend, the reveal's card and the identity check need to
know about a model; :func:`parse_model` reads and checks one ``[[models]]`` table;
:func:`demo_models` are the offline models used when none is configured. Apart from
:mod:`arena.config` (the app's settings and where they are read from) because a model's
entry has its own fields, checks and defaults, and several modules need only this.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from arena.errors import ConfigError

TANUKI_SYSTEM_PROMPT = "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the arena, as configured in ``[[models]]``."""

    name: str
    provider: str
    model: str = ""
    base_urls: tuple[str, ...] = ()
    api_key_env: str = ""
    system_prompt: str = ""
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    weights: str = "closed"
    description: str = ""
    description_ja: str = ""
    description_en: str = ""
    japanese_mt_bench: float | None = None
    nejumi_lb3: float | None = None
    #: Who made the model and its size in words ("8B", "8x8B MoE"), for the reveal's cards.
    developer: str = ""
    size: str = ""
    sample_weight: float = 1.0
    enabled: bool = True
    demo: bool = False
    #: Other spellings a model could name itself by (kana, nicknames) for the identity check.
    aliases: tuple[str, ...] = ()
    #: Answers this model may stream at once (0: no cap beyond the shared connection pool).
    max_concurrency: int = 0
    #: Ask for reasoning: "default" (send nothing), "on" or "off" (see docs/backends.md).
    reasoning: str = "default"
    #: Thinking tokens asked for when reasoning is "on" (0: the provider's or adapter's default).
    reasoning_budget: int = 0

    @property
    def thinking_budget(self) -> int:
        """Claude's thinking budget with reasoning "on": ``reasoning_budget``, else half
        of ``max_tokens``, never under Anthropic's minimum."""
        return max(self.reasoning_budget or self.max_tokens // 2, MIN_THINKING_BUDGET)

    def description_in(self, lang: str) -> str:
        """The description in ``lang`` (``description_ja``/``_en``), else ``description``."""
        return {"ja": self.description_ja, "en": self.description_en}.get(lang) or self.description

    @property
    def served_name(self) -> str:
        """The name the provider knows the model by (defaults to ``name``)."""
        return self.model or self.name

    def api_key(self) -> str | None:
        """The API key, read from the environment at call time (never stored)."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


REASONING_CHOICES = ("default", "on", "off")


MODEL_FIELDS = {f.name: f for f in dataclasses.fields(ModelSpec)}


def coerce(value: Any, default: Any, where: str) -> Any:
    """Convert ``value`` (from TOML or env) to the type of ``default``."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(f"expected true or false, got {value!r}")
                return low in {"1", "true", "yes", "on"}
            if not isinstance(value, bool):
                raise ValueError(f"expected true or false, got {value!r}")
            return value
        if isinstance(default, int):
            if isinstance(value, bool | float):
                raise ValueError(f"expected a whole number, got {value!r}")
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, list):
                raise ValueError(f"expected a list, got {value!r}")
            return tuple(str(v) for v in value)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def parse_model(raw: Any, where: str, providers: set[str]) -> ModelSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(raw) - set(MODEL_FIELDS) - {"base_url"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("name", "provider"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where}.{key}: required, a non-empty string")
    if raw["provider"] not in providers:
        raise ConfigError(
            f"{where}.provider: unknown provider {raw['provider']!r} "
            f"(known: {', '.join(sorted(providers))})"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "base_url":
            values["base_urls"] = coerce([value], (), f"{where}.base_url")
            continue
        if key in ("japanese_mt_bench", "nejumi_lb3"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            values[key] = float(value)
            continue
        values[key] = coerce(value, MODEL_FIELDS[key].default, f"{where}.{key}")
    if "api_key" in raw:
        raise ConfigError(f"{where}.api_key: keys come from the environment; use api_key_env")
    spec = ModelSpec(**values)
    if spec.weights not in ("open", "closed"):
        raise ConfigError(f"{where}.weights: expected 'open' or 'closed', got {spec.weights!r}")
    if spec.sample_weight < 0:
        raise ConfigError(f"{where}.sample_weight: must be >= 0")
    if spec.max_tokens <= 0:
        raise ConfigError(f"{where}.max_tokens: must be > 0")
    if spec.max_concurrency < 0:
        raise ConfigError(f"{where}.max_concurrency: must be >= 0 (0: no cap)")
    if spec.reasoning not in REASONING_CHOICES:
        raise ConfigError(
            f"{where}.reasoning: expected one of {', '.join(REASONING_CHOICES)}, "
            f"got {spec.reasoning!r}"
        )
    if spec.reasoning_budget < 0:
        raise ConfigError(f"{where}.reasoning_budget: must be >= 0 (0: default)")
    thinking = spec.thinking_budget
    if spec.provider == "anthropic" and spec.reasoning == "on" and spec.max_tokens <= thinking:
        raise ConfigError(
            f"{where}.max_tokens: with reasoning on, Claude needs max_tokens above its "
            f"thinking budget ({thinking} tokens, at least {MIN_THINKING_BUDGET})"
        )
    if spec.provider != "demo" and not spec.base_urls:
        raise ConfigError(f"{where}.base_url: required for provider {spec.provider!r}")
    for url in spec.base_urls:
        _check_base_url(url, f"{where}.base_url", spec.name)
    return spec


def _check_base_url(url: str, where: str, model: str) -> None:
    """A model's base URL must be http(s) with a host (a bare ``gpu-host:8000/v1`` is not)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:  # e.g. an unclosed [ or a port that is not a number
        ok = False
    if not ok:
        raise ConfigError(
            f"{where}: model {model!r}: {url!r} is not an http(s) URL with a host; "
            'write it in full, e.g. base_url = "http://gpu-host:8000/v1"'
        )


def demo_models() -> tuple[ModelSpec, ...]:
    """The offline demo models used when no model is configured."""
    return tuple(
        ModelSpec(
            name=f"Demo-{label}",
            provider="demo",
            weights="open",
            developer="Tanuki Arena (offline demo)",
            size="rule-based (no neural network)",
            description=en,
            description_ja=ja,
            description_en=en,
            demo=True,
        )
        for label, ja, en in (
            ("Echo", "オフラインのデモ用モデル：質問を言い直して答えます。",
             "Offline demo model: restates the prompt."),
            ("Haiku", "オフラインのデモ用モデル：短い詩で答えます。",
             "Offline demo model: answers with a short poem."),
            ("Lister", "オフラインのデモ用モデル：箇条書きで答えます。",
             "Offline demo model: answers with a list."),
        )
    )  # fmt: skip


#: Anthropic's smallest extended-thinking budget, in tokens.
MIN_THINKING_BUDGET = 1024
#: The providers a model may name; :data:`arena.backends.BACKENDS` has a class for each
#: (checked when the registry is imported), so config never imports the backends.
PROVIDERS = ("openai", "vllm", "plamo", "anthropic", "gemini", "demo")
