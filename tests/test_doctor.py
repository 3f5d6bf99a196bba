"""Start-up checks: base URLs, API keys in the environment, ``python -m arena doctor``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena import cli
from arena.config import check_environment, load_settings
from arena.errors import ConfigError
from tests.conftest import ROOT, free_port
from tests.loopback import Behaviour

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "PLAMO_API_KEY")


def _model(name: str, base_url: str, key_env: str = "", provider: str = "vllm") -> str:
    key = f'api_key_env = "{key_env}"\n' if key_env else ""
    return f'[[models]]\nname = "{name}"\nprovider = "{provider}"\nbase_url = "{base_url}"\n{key}'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arena.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "url", ["gpu-host:8000/v1", "u", "http://", "ftp://gpu-host/v1", "http://gpu-host:port/v1"]
)
def test_base_url_must_be_http_with_a_host(tmp_path: Path, url: str) -> None:
    text = _model("a", "http://127.0.0.1:1/v1") + _model("b", url)
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), env={})
    message = str(info.value)
    assert "models[1].base_url" in message and "'b'" in message and repr(url) in message
    assert 'base_url = "http://gpu-host:8000/v1"' in message  # the fix


def test_https_and_ipv6_base_urls_are_accepted(tmp_path: Path) -> None:
    text = _model("a", "https://api.example.com/v1") + _model("b", "http://[::1]:8000/v1")
    assert len(load_settings(_write(tmp_path, text), env={}).models) == 2


def test_missing_keys_of_enabled_models_are_named(tmp_path: Path) -> None:
    text = (
        _model("keyless-vllm", "http://127.0.0.1:1/v1")
        + _model("needs-key", "http://127.0.0.1:1/v1", "K_ONE")
        + _model("has-key", "http://127.0.0.1:1/v1", "K_TWO")
        + _model("off", "http://127.0.0.1:1/v1", "K_THREE")
        + "enabled = false\n"
    )
    settings = load_settings(_write(tmp_path, text), env={})
    problems = check_environment(settings, {"K_TWO": "secret"})
    assert problems == ["model 'needs-key': set the environment variable K_ONE (its API key)"]
    assert check_environment(settings, {"K_ONE": "x", "K_TWO": "y"}) == []


def test_example_config_without_keys_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*KEY_VARS, "VLLM_API_KEY")}
    env |= {"ARENA_CONFIG": str(ROOT / "arena.example.toml"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ")
    settings = load_settings(ROOT / "arena.example.toml", env={})
    needed = {(m.name, m.api_key_env) for m in settings.models if m.enabled and m.api_key_env}
    assert needed and {v for _, v in needed} >= {"VLLM_API_KEY", *KEY_VARS[:2]}
    for name, var in needed:
        assert f"model '{name}': set the environment variable {var}" in lines[0]
    assert not (tmp_path / "x.db").exists()  # refused before anything was created


def _doctor(tmp_path: Path, monkeypatch, capsys, text: str, *args: str) -> tuple[int, list[str]]:
    monkeypatch.setenv("ARENA_CONFIG", str(_write(tmp_path, text)))
    code = cli.main(["doctor", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines() + out.err.splitlines()


def test_doctor_reports_each_model(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("DOC_KEY", raising=False)
    text = _model("a", "http://127.0.0.1:1/v1") + _model("b", "http://127.0.0.1:1/v1", "DOC_KEY")
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text)
    assert code == 2
    assert lines == [
        "ok      a: vllm, http://127.0.0.1:1/v1",
        "problem b: set the environment variable DOC_KEY (its API key)",
    ]
    monkeypatch.setenv("DOC_KEY", "secret")
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text)
    assert code == 0 and [line.split()[0] for line in lines] == ["ok", "ok"]


def test_doctor_config_error_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    text = _model("a", "http://127.0.0.1:1/v1") + _model("b", "gpu-host:8000/v1")
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: configuration: ") and "'b'" in lines[0]


def test_doctor_probe_asks_for_one_token(tmp_path: Path, monkeypatch, capsys, llm) -> None:
    llm.set("up-a", Behaviour(tokens=5))
    llm.set("up-b", Behaviour(tokens=5))
    monkeypatch.setenv("DOC_KEY", "secret")
    text = _model("up-a", llm.base_url) + _model("up-b", llm.base_url, "DOC_KEY", "openai")
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text, "--probe")
    assert code == 0, lines
    assert len(lines) == 2 and all(" ms" in line and line.startswith("ok") for line in lines)
    bodies = [r["body"] for r in llm.requests]
    assert len(bodies) == 2
    assert all((b.get("max_tokens") or b.get("max_completion_tokens")) == 1 for b in bodies)


def test_doctor_probe_reports_a_down_backend(tmp_path: Path, monkeypatch, capsys, llm) -> None:
    llm.set("up", Behaviour(tokens=5))
    llm.set("broken", Behaviour(mode="status_500"))
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    text = _model("up", llm.base_url) + _model("down", down) + _model("broken", llm.base_url)
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text, "--probe")
    assert code == 2, lines
    up, down_line, broken = lines
    assert up.startswith("ok      up: ") and " ms" in up
    assert down_line.startswith(f"problem down: vllm, {down}: no answer (connection)")
    assert broken.startswith("problem broken: ") and "(http_500)" in broken


def test_doctor_probe_reports_the_protocol_features_seen(
    tmp_path: Path, monkeypatch, capsys, llm
) -> None:
    llm.set("plain", Behaviour(tokens=5))
    llm.set("thinker", Behaviour(tokens=5, thinking=3))
    llm.set("claude", Behaviour(tokens=5))
    llm.set("blocked", Behaviour(mode="prompt_blocked"))
    gemini = llm.gemini_base_url
    text = (
        _model("plain", llm.base_url)
        + _model("thinker", llm.base_url)
        + _model("claude", llm.base_url, provider="anthropic")
        + _model("blocked", gemini, provider="gemini")
    )
    code, lines = _doctor(tmp_path, monkeypatch, capsys, text, "--probe")
    assert code == 2, lines  # the blocked prompt is a problem
    plain, thinker, claude, blocked = lines
    assert plain.startswith("ok      plain: ") and plain.endswith(
        "usage 5+1, finish length (length), reasoning no"
    )
    # the one token went to thinking: still a working model, and reasoning is reported
    assert thinker.startswith("ok      thinker: ")
    assert thinker.endswith("usage 5+1, finish length (length), reasoning yes")
    assert claude.endswith("usage 5+1, finish length (max_tokens), reasoning no")
    assert blocked.startswith("problem blocked: ") and "(content_filter)" in blocked
    assert len(llm.requests) == 4  # one each: nothing retried
