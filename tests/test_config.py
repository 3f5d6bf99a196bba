"""Settings: the example config, env overrides, and start-up errors that name file and key."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from arena.config import TANUKI_SYSTEM_PROMPT, env_name, load_settings, settings_help
from arena.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SEED_MODELS = [
    "GPT-4o-2024-05-13", "Claude-3.5-sonnet-20240620", "Gemini-1.5-pro", "Tanuki-8x8B-dpo-v1.0",
    "GPT-4o-mini-2024-07-18", "Gemini-1.5-flash", "Calm3-22b-chat", "PLAMO-100B",
    "Tanuki-8B-dpo-v1.0", "Karakuri-lm-8x7b-chat-v0.1", "Llama-3-ELYZA-JP-8B",
    "Llama-3-Swallow-70B-Instruct-v0.1", "GPT-3.5-turbo",
]  # fmt: skip
MINIMAL = """
[[models]]
name = "a"
provider = "vllm"
base_url = "http://127.0.0.1:1/v1"
[[models]]
name = "b"
provider = "vllm"
base_url = "http://127.0.0.1:1/v1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arena.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_lists_the_seed_models_with_real_providers() -> None:
    s = load_settings(ROOT / "arena.example.toml", env={})
    by_name = {m.name: m for m in s.models}
    assert sorted(by_name) == sorted(SEED_MODELS)
    providers = {n: m.provider for n, m in by_name.items()}
    assert providers["GPT-4o-2024-05-13"] == "openai"
    assert providers["Claude-3.5-sonnet-20240620"] == "anthropic"
    assert providers["Gemini-1.5-flash"] == "gemini"
    assert providers["PLAMO-100B"] == "plamo"
    assert providers["Tanuki-8B-dpo-v1.0"] == "vllm"
    assert by_name["Tanuki-8B-dpo-v1.0"].system_prompt == TANUKI_SYSTEM_PROMPT
    assert by_name["Tanuki-8x8B-dpo-v1.0"].system_prompt == TANUKI_SYSTEM_PROMPT
    for m in s.models:
        assert m.base_urls and m.served_name and m.api_key_env and m.weights in ("open", "closed")
    assert not s.is_demo


def test_example_matches_the_seed_table_scores() -> None:
    s = load_settings(ROOT / "arena.example.toml", env={})
    by_name = {m.name: m for m in s.models}
    seed_csv = ROOT / "tests" / "golden" / "seed_arena_table.csv"  # copy of shared/data's
    for row in csv.DictReader(seed_csv.open(encoding="utf-8")):
        m = by_name[row["model"]]
        assert m.weights == row["weights"]
        if row["japanese_mt_bench"]:
            assert m.japanese_mt_bench == pytest.approx(float(row["japanese_mt_bench"]))
            assert m.nejumi_lb3 == pytest.approx(float(row["nejumi_lb3"]))


def test_no_models_means_demo_models(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "[arena]\nport = 8000\n"), env={})
    assert s.is_demo and len(s.models) >= 2 and s.port == 8000
    assert all(m.provider == "demo" for m in s.models)


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {"ARENA_MAX_TURNS": "3", "DATABASE_URL": "sqlite:///x.db", "ARENA_DEMO_MODELS": "yes"}
    s = load_settings(write(tmp_path, MINIMAL + "[arena]\nmax_turns = 9\n"), env=env)
    assert s.max_turns == 3 and s.database_url == "sqlite:///x.db" and s.is_demo


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[arena]\nmax_turns = 'many'\n", r"arena\.max_turns: .*many"),
        ("[arena]\nnot_a_setting = 1\n", r"unknown key\(s\) arena\.not_a_setting"),
        ("[arena]\nsecret = 'x'\n", r"arena\.secret: secrets come only from the environment"),
        ("[[models]]\nname = 'a'\nprovider = 'nope'\n", r"models\[0\]\.provider: unknown provider"),
        ("[[models]]\nprovider = 'vllm'\n", r"models\[0\]\.name: required"),
        ("[[models]]\nname='a'\nprovider='vllm'\n", r"models\[0\]\.base_url: required"),
        (MINIMAL + "[[models]]\nname='c'\nprovider='openai'\nbase_url='http://u'\napi_key='sk'\n",
         r"models\[2\]: unknown key\(s\) api_key"),
        (MINIMAL.replace('"b"', '"a"'), r"duplicate name\(s\) a"),
        (MINIMAL + "[[models]]\nname='c'\nprovider='demo'\nweights='half'\n",
         r"models\[2\]\.weights: expected 'open' or 'closed'"),
        ("this is = = not toml", r"not valid TOML"),
        ("[arena]\nrecompute_at = '25:00'\n", r"recompute_at: expected HH:MM"),
        ("[[models]]\nname='a'\nprovider='demo'\n", r"at least two enabled models"),
    ],
)  # fmt: skip
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(path) in str(info.value)
    assert re.search(message, str(info.value)), str(info.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment ARENA_PORT: .*abc"):
        load_settings(write(tmp_path, ""), env={"ARENA_PORT": "abc"})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_api_key_is_read_from_the_environment_only(tmp_path: Path, monkeypatch) -> None:
    text = (
        MINIMAL
        + "[[models]]\nname='c'\nprovider='openai'\nbase_url='http://u'\napi_key_env='MY_KEY'\n"
    )
    s = load_settings(write(tmp_path, text), env={})
    monkeypatch.setenv("MY_KEY", "secret-value")
    assert s.models[2].api_key() == "secret-value"
    assert "secret-value" not in repr(s)


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    import dataclasses

    from arena.config import Settings

    for f in dataclasses.fields(Settings):
        assert f"`{f.name}`" in readme, f"README does not document setting {f.name}"
        assert f"`{env_name(f)}`" in readme or f.name == "models", env_name(f)
    assert set(settings_help()) == {f.name for f in dataclasses.fields(Settings)}


def test_config_does_not_import_the_backends_and_they_agree_on_providers() -> None:
    import subprocess
    import sys

    probe = "import sys, arena.config; print('arena.backends' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert out.stdout.strip() == "False"
    from arena.backends import BACKENDS
    from arena.config import PROVIDERS

    assert set(BACKENDS) == set(PROVIDERS)
