"""Model adapters against a loopback server: each wire protocol, and generate()'s policy.

Every test gets its own served model name, so behaviours and request counts of one
test never leak into another while all share one server.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

import httpx
import pytest

from arena.backends import (
    BACKENDS,
    ChatMessage,
    StreamEnd,
    TextDelta,
    Timeouts,
    generate,
    make_client,
)
from arena.backends.base import Backend
from arena.backends.demo import DemoBackend
from arena.backends.policy import AnswerFailed
from arena.backends.pool import SHARD_CONNECTIONS, ShardedTransport
from arena.config import TANUKI_SYSTEM_PROMPT, ModelSpec, demo_models
from arena.errors import BackendError
from tests.conftest import async_wait_until, free_port
from tests.loopback import Behaviour, LoopbackLLM, count_prompt_tokens

KEY_ENV = "ARENA_TEST_LOOPBACK_KEY"
FAST = Timeouts(connect=2.0, first_token=5.0, total=10.0, retries=2, backoff=0.01)
HISTORY = (
    ChatMessage("user", "こんにちは"),
    ChatMessage("assistant", "こんにちは！ご用件は？"),
    ChatMessage("user", "Write one line about tanuki."),
)


@dataclass
class Outcome:
    """What a volunteer would have seen: the text shown, then an end or an error."""

    text: str = ""
    deltas: int = 0
    end: StreamEnd | None = None
    error: BackendError | None = None
    elapsed: float = 0.0
    events: list[object] = field(default_factory=list)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackLLM]:
    with LoopbackLLM() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(FAST) as http_client:
        yield http_client


@pytest.fixture
def served(request: pytest.FixtureRequest) -> str:
    """A served model name unique to the test."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, "sk-loopback")
    return "sk-loopback"


def make_backend(
    client: httpx.AsyncClient,
    provider: str,
    served: str,
    base_urls: Sequence[str],
    **overrides: object,
) -> Backend:
    values: dict[str, object] = {
        "name": "m",
        "provider": provider,
        "model": served,
        "base_urls": tuple(base_urls),
        "api_key_env": KEY_ENV,
        "system_prompt": TANUKI_SYSTEM_PROMPT,
        "temperature": 0.5,
        "max_tokens": 256,
    }
    values.update(overrides)
    spec = ModelSpec(**values)  # type: ignore[arg-type]
    return BACKENDS[provider](spec, client)


async def run(
    backend: Backend, timeouts: Timeouts = FAST, messages: Sequence[ChatMessage] = HISTORY
) -> Outcome:
    out = Outcome()
    start = time.monotonic()
    try:
        async for event in generate(backend, messages, timeouts):
            out.events.append(event)
            if isinstance(event, TextDelta):
                out.text += event.text
                out.deltas += 1
            else:
                out.end = event
    except BackendError as exc:
        out.error = exc
    out.elapsed = time.monotonic() - start
    return out


def dead_url() -> str:
    """A URL on a port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def history_texts() -> list[str]:
    return [TANUKI_SYSTEM_PROMPT, *(m.content for m in HISTORY)]


# --- OpenAI-compatible (vLLM) -------------------------------------------------------


async def test_openai_normal_stream(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    behaviour = Behaviour(tokens=12)
    server.set(served, behaviour)
    backend = make_backend(client, "vllm", served, [server.base_url], top_p=0.9)

    out = await run(backend)

    assert out.error is None
    assert out.text == behaviour.answer()
    assert out.deltas == 12
    assert out.end == StreamEnd("stop", count_prompt_tokens(history_texts()), 12)
    assert isinstance(out.events[-1], StreamEnd)
    [request] = server.requests_for(served)
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-loopback"
    body = request["body"]
    assert body["model"] == served
    assert body["messages"] == [
        {"role": "system", "content": TANUKI_SYSTEM_PROMPT},
        *({"role": m.role, "content": m.content} for m in HISTORY),
    ]
    assert body["temperature"] == 0.5
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 256
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_openai_without_system_prompt_sends_history_only(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=2))
    backend = make_backend(client, "openai", served, [server.base_url], system_prompt="")

    out = await run(backend)

    assert out.end is not None
    [request] = server.requests_for(served)
    assert [m["role"] for m in request["body"]["messages"]] == ["user", "assistant", "user"]


async def test_openai_error_frame_after_text_is_not_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="error_frame", tokens=10, fail_after=3)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "stream_error"
    assert "simulated engine failure" in str(out.error)
    assert out.text == "".join(behaviour.chunks()[:3])
    assert len(server.requests_for(served)) == 1


async def test_openai_error_frame_before_text_is_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="error_frame", tokens=5, fail_after=0, fail_times=1)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is None
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 2


async def test_openai_500_is_retried_then_fails(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(mode="status_500"))

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "http_500"
    assert out.error.retryable
    assert "simulated HTTP 500" in str(out.error)
    assert out.text == ""
    assert len(server.requests_for(served)) == FAST.retries + 1


async def test_openai_429_once_succeeds_on_retry(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="status_429", fail_times=1, tokens=4)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is None
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 2


async def test_openai_401_is_not_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(mode="status_401"))

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "http_401"
    assert not out.error.retryable
    assert "Unauthorized" in str(out.error)
    assert len(server.requests_for(served)) == 1


async def test_openai_wrong_api_key_is_rejected(
    client: httpx.AsyncClient, served: str, monkeypatch: pytest.MonkeyPatch
):
    with LoopbackLLM(api_key="right-key") as guarded:
        backend = make_backend(client, "vllm", served, [guarded.base_url])
        rejected = await run(backend)
        monkeypatch.setenv(KEY_ENV, "right-key")
        accepted = await run(backend)

    assert rejected.error is not None and rejected.error.kind == "http_401"
    assert accepted.error is None and accepted.end is not None
    assert len(guarded.requests_for(served)) == 2


async def test_openai_stall_before_first_token_times_out_after_retries(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(mode="stall_before_first", stall_seconds=30))
    timeouts = Timeouts(connect=2, first_token=0.3, total=10, retries=1, backoff=0.05)

    out = await run(make_backend(client, "vllm", served, [server.base_url]), timeouts)

    assert out.error is not None and out.error.kind == "first_token_timeout"
    assert out.text == ""
    assert len(server.requests_for(served)) == 2
    assert 0.6 <= out.elapsed < 2.0


async def test_openai_stall_after_first_token_hits_total_timeout(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="stall_after_first", fail_after=2, stall_seconds=30)
    server.set(served, behaviour)
    timeouts = Timeouts(connect=2, first_token=5, total=0.5, retries=2, backoff=0.01)

    out = await run(make_backend(client, "vllm", served, [server.base_url]), timeouts)

    assert out.error is not None and out.error.kind == "timeout"
    assert not out.error.retryable
    assert out.text == "".join(behaviour.chunks()[:2])
    assert len(server.requests_for(served)) == 1
    assert 0.45 <= out.elapsed < 2.0


async def test_openai_cut_after_text_is_not_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="cut", fail_after=3)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "connection"
    assert out.text == "".join(behaviour.chunks()[:3])
    assert len(server.requests_for(served)) == 1


async def test_openai_cut_before_text_is_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="cut", fail_after=0, fail_times=1, tokens=6)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is None
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 2


async def test_openai_missing_done_is_truncated(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="no_done", tokens=5)
    server.set(served, behaviour)

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "truncated"
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 1


async def test_openai_fails_over_to_the_live_replica(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(tokens=5)
    server.set(served, behaviour)
    backend = make_backend(client, "vllm", served, [dead_url(), server.base_url])

    out = await run(backend)

    assert out.error is None
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 1


async def test_openai_fails_over_between_two_servers(client: httpx.AsyncClient, served: str):
    with LoopbackLLM() as broken, LoopbackLLM() as healthy:
        broken.set(served, Behaviour(mode="status_500"))
        healthy.set(served, Behaviour(tokens=3))
        backend = make_backend(client, "vllm", served, [broken.base_url, healthy.base_url])

        out = await run(backend)

    assert out.error is None and out.end is not None
    assert len(broken.requests_for(served)) == 1
    assert len(healthy.requests_for(served)) == 1


async def test_openai_concurrent_generations_each_fail_over(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=3))
    backend = make_backend(client, "vllm", served, [dead_url(), server.base_url])
    timeouts = Timeouts(connect=2, first_token=5, total=10, retries=1, backoff=0.01)

    outs = await asyncio.gather(*(run(backend, timeouts) for _ in range(6)))

    assert [o.error for o in outs] == [None] * 6
    assert len(server.requests_for(served)) == 6


async def test_openai_reuses_connections(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=3))
    backend = make_backend(client, "vllm", served, [server.base_url])
    before = server.connections

    outs = [await run(backend) for _ in range(3)]

    assert all(o.end is not None for o in outs)
    assert server.connections - before == 1


async def test_openai_max_tokens_ends_with_length(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(tokens=20)
    server.set(served, behaviour)
    backend = make_backend(client, "vllm", served, [server.base_url], max_tokens=5)

    out = await run(backend)

    assert out.text == behaviour.answer(5)
    assert out.end is not None
    assert out.end.finish_reason == "length"
    assert out.end.completion_tokens == 5


# --- Anthropic ------------------------------------------------------------------------


async def test_anthropic_normal_stream_and_request_shape(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(tokens=8)
    server.set(served, behaviour)
    backend = make_backend(client, "anthropic", served, [server.base_url], top_p=0.9)

    out = await run(backend)

    assert out.error is None
    assert out.text == behaviour.answer()
    assert out.end == StreamEnd("stop", count_prompt_tokens(history_texts()), 8, "end_turn")
    [request] = server.requests_for(served)
    assert request["path"] == "/v1/messages"
    headers = request["headers"]
    assert headers["x-api-key"] == "sk-loopback"
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    body = request["body"]
    assert body["model"] == served
    assert body["system"] == TANUKI_SYSTEM_PROMPT
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in HISTORY]
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.5
    assert "top_p" not in body
    assert body["stream"] is True


async def test_anthropic_without_system_prompt_omits_it(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=2))
    backend = make_backend(client, "anthropic", served, [server.base_url], system_prompt="")

    out = await run(backend)

    assert out.end is not None
    [request] = server.requests_for(served)
    assert "system" not in request["body"]


async def test_anthropic_error_event_after_text(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="error_frame", fail_after=2)
    server.set(served, behaviour)

    out = await run(make_backend(client, "anthropic", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "stream_error"
    assert "overloaded_error" in str(out.error)
    assert out.error.retryable
    assert out.text == "".join(behaviour.chunks()[:2])
    assert len(server.requests_for(served)) == 1


async def test_anthropic_overloaded_before_text_is_retried(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="error_frame", fail_after=0, fail_times=1, tokens=3)
    server.set(served, behaviour)

    out = await run(make_backend(client, "anthropic", served, [server.base_url]))

    assert out.error is None
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 2


async def test_anthropic_http_errors(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    server.set(served + "-500", Behaviour(mode="status_500"))
    server.set(served + "-401", Behaviour(mode="status_401"))

    failed = await run(make_backend(client, "anthropic", served + "-500", [server.base_url]))
    refused = await run(make_backend(client, "anthropic", served + "-401", [server.base_url]))

    assert failed.error is not None and failed.error.kind == "http_500"
    assert "api_error" in str(failed.error)
    assert len(server.requests_for(served + "-500")) == FAST.retries + 1
    assert refused.error is not None and refused.error.kind == "http_401"
    assert "authentication_error" in str(refused.error)
    assert len(server.requests_for(served + "-401")) == 1


async def test_anthropic_truncated_stream(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(mode="no_done", tokens=4)
    server.set(served, behaviour)

    out = await run(make_backend(client, "anthropic", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "truncated"
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 1


async def test_anthropic_cut_stream(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    server.set(served, Behaviour(mode="cut", fail_after=1))

    out = await run(make_backend(client, "anthropic", served, [server.base_url]))

    assert out.error is not None and out.error.kind == "connection"
    assert out.deltas == 1
    assert len(server.requests_for(served)) == 1


async def test_anthropic_max_tokens(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    server.set(served, Behaviour(tokens=10))
    backend = make_backend(client, "anthropic", served, [server.base_url], max_tokens=4)

    out = await run(backend)

    assert out.end is not None
    assert (out.end.finish_reason, out.end.completion_tokens, out.deltas) == ("length", 4, 4)
    assert out.end.raw_finish_reason == "max_tokens"


async def test_anthropic_and_gemini_reuse_connections(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=3))
    anthropic = make_backend(client, "anthropic", served, [server.base_url])
    gemini = make_backend(client, "gemini", served, [server.gemini_base_url])
    before = server.connections

    outs = [await run(backend) for backend in (anthropic, anthropic, gemini, gemini)]

    assert all(o.end is not None for o in outs)
    assert server.connections - before == 1  # one origin: one kept-alive connection


# --- Gemini ---------------------------------------------------------------------------


async def test_gemini_normal_stream_and_request_shape(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    behaviour = Behaviour(text="狸は森に住んでいます。Tanuki live in forests.", tokens=7)
    server.set(served, behaviour)
    backend = make_backend(client, "gemini", served, [server.gemini_base_url], top_p=0.9)

    out = await run(backend)

    assert out.error is None
    assert out.text == behaviour.text
    assert out.deltas == 7
    assert out.end == StreamEnd("stop", count_prompt_tokens(history_texts()), 7)
    [request] = server.requests_for(served)
    assert request["path"] == f"/v1beta/models/{served}:streamGenerateContent"
    assert request["query"] == {"alt": "sse"}
    headers = request["headers"]
    assert headers["x-goog-api-key"] == "sk-loopback"
    assert "authorization" not in headers
    body = request["body"]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": HISTORY[0].content}]},
        {"role": "model", "parts": [{"text": HISTORY[1].content}]},
        {"role": "user", "parts": [{"text": HISTORY[2].content}]},
    ]
    assert body["systemInstruction"] == {"parts": [{"text": TANUKI_SYSTEM_PROMPT}]}
    assert body["generationConfig"] == {"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 256}


async def test_gemini_safety_stop_ends_normally(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=3, finish="SAFETY"))
    backend = make_backend(client, "gemini", served, [server.gemini_base_url], system_prompt="")

    out = await run(backend)

    assert out.error is None
    assert out.end is not None and out.end.finish_reason == "content_filter"
    assert out.end.raw_finish_reason == "SAFETY"
    [request] = server.requests_for(served)
    assert "systemInstruction" not in request["body"]


async def test_gemini_error_frame(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    behaviour = Behaviour(mode="error_frame", fail_after=2)
    server.set(served, behaviour)

    out = await run(make_backend(client, "gemini", served, [server.gemini_base_url]))

    assert out.error is not None and out.error.kind == "stream_error"
    assert "INTERNAL" in str(out.error)
    assert out.text == "".join(behaviour.chunks()[:2])
    assert len(server.requests_for(served)) == 1


async def test_gemini_http_errors(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    limited = Behaviour(mode="status_429", fail_times=1, tokens=3)
    server.set(served + "-429", limited)
    server.set(served + "-500", Behaviour(mode="status_500"))

    recovered = await run(make_backend(client, "gemini", served + "-429", [server.gemini_base_url]))
    failed = await run(make_backend(client, "gemini", served + "-500", [server.gemini_base_url]))

    assert recovered.error is None and recovered.text == limited.answer()
    assert len(server.requests_for(served + "-429")) == 2
    assert failed.error is not None and failed.error.kind == "http_500"
    assert "INTERNAL" in str(failed.error)
    assert len(server.requests_for(served + "-500")) == FAST.retries + 1


async def test_gemini_truncated_stream(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    behaviour = Behaviour(mode="no_done", tokens=4)
    server.set(served, behaviour)

    out = await run(make_backend(client, "gemini", served, [server.gemini_base_url]))

    assert out.error is not None and out.error.kind == "truncated"
    assert out.text == behaviour.answer()
    assert len(server.requests_for(served)) == 1


async def test_gemini_max_tokens(server: LoopbackLLM, client: httpx.AsyncClient, served: str):
    server.set(served, Behaviour(tokens=10))
    backend = make_backend(client, "gemini", served, [server.gemini_base_url], max_tokens=3)

    out = await run(backend)

    assert out.end is not None
    assert (out.end.finish_reason, out.end.completion_tokens, out.deltas) == ("length", 3, 3)


# --- Demo -----------------------------------------------------------------------------


async def test_demo_backend_streams_and_ends(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(DemoBackend, "delay", 0.0)
    backend = BACKENDS["demo"](demo_models()[0], client)

    out = await run(backend, messages=[ChatMessage("user", "たぬきについて教えて")])

    assert out.error is None
    assert out.deltas > 1
    assert "たぬきについて教えて" in out.text
    assert isinstance(out.events[-1], StreamEnd)
    assert out.end is not None and out.end.finish_reason == "stop"


# --- The loopback server itself -------------------------------------------------------


async def test_loopback_stop_ends_stalled_streams(client: httpx.AsyncClient, served: str):
    stalled = LoopbackLLM().start()
    stalled.set(served, Behaviour(mode="stall_before_first", stall_seconds=60))
    backend = make_backend(client, "vllm", served, [stalled.base_url])
    timeouts = Timeouts(connect=2, first_token=30, total=30, retries=0)
    pending = asyncio.create_task(run(backend, timeouts))
    await async_wait_until(
        lambda: stalled.requests_for(served), 10, "the request to reach the loopback server"
    )

    start = time.monotonic()
    await asyncio.to_thread(stalled.stop)
    out = await asyncio.wait_for(pending, 5)

    assert time.monotonic() - start < 2.0
    assert out.error is not None and out.error.kind == "connection"


async def test_loopback_serves_many_paced_streams(server: LoopbackLLM, served: str):
    behaviour = Behaviour(tokens=10, rate=50.0)
    server.set(served, behaviour)
    before = len(server.first_token_times())
    async with make_client(FAST) as http_client:
        backend = make_backend(http_client, "vllm", served, [server.base_url])
        start = time.monotonic()
        outs = await asyncio.gather(*(run(backend) for _ in range(120)))
        elapsed = time.monotonic() - start

    assert all(o.error is None and o.text == behaviour.answer() for o in outs)
    # 10 tokens at 50/s: the last is sent 0.18 s after the first; allow for 2 slow cores.
    assert 0.18 <= elapsed < 3.0
    assert len(server.first_token_times()) - before == 120


async def test_loopback_health_and_models(server: LoopbackLLM, served: str):
    server.set(served, Behaviour())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http_client:
        health = await http_client.get("/health")
        models = await http_client.get("/v1/models")

    assert health.status_code == 200 and health.content == b""
    assert served in [m["id"] for m in models.json()["data"]]


# --- Connection pool, per-model cap, Retry-After, finish reasons, failure log ---------


def test_pool_is_sized_from_settings_in_small_pools():
    from arena.backends import client_for, pool_size
    from arena.config import Settings

    settings = Settings(stream_concurrency=300)
    transport = client_for(settings)._transport  # httpx ignores AsyncClient(limits=) then
    # httpx's transport keeps its httpcore pool in _pool: its size, read back.
    sizes = [shard._pool._max_connections for shard in transport.shards]

    assert pool_size(settings) == 600
    assert sum(sizes) >= 600 and max(sizes) <= SHARD_CONNECTIONS
    assert sum(sizes) - 600 < len(sizes)  # rounded up, by less than one per pool


def _chat(served: str) -> dict:
    return {"model": served, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def test_streams_spread_over_the_pools_and_a_lone_request_keeps_its_connection(
    server: LoopbackLLM, served: str
):
    """Requests go to the pool with the fewest in flight, so open streams spread evenly
    and each is counted out when its body is closed; one request after another reuses
    the same kept-alive connection; a request that fails is counted out too."""
    transport = ShardedTransport(3 * SHARD_CONNECTIONS)
    assert len(transport.shards) == 3
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url) as client:
        sockets = []
        for _ in range(3):
            r = await client.get("/v1/models")
            sockets.append(r.extensions["network_stream"])
        assert sockets[0] is sockets[1] is sockets[2] and transport.in_flight == [0, 0, 0]

        server.set(served, Behaviour(tokens=40, rate=10))  # four seconds each
        request = client.build_request("POST", "/v1/chat/completions", json=_chat(served))
        opened = await asyncio.gather(*(client.send(request, stream=True) for _ in range(7)))
        assert sorted(transport.in_flight) == [2, 2, 3]
        for response in opened[:4]:
            await response.aclose()
        assert sum(transport.in_flight) == 3
        for response in opened[4:]:
            await response.aclose()
        assert transport.in_flight == [0, 0, 0]

    closed = ShardedTransport(4)
    async with httpx.AsyncClient(transport=closed, timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/v1/models")
    assert closed.in_flight == [0]


async def test_per_model_cap_fails_a_saturated_side_with_a_code(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=2, first_token_delay=1.5))
    backend = make_backend(client, "vllm", served, [server.base_url], max_concurrency=1)
    timeouts = Timeouts(connect=0.3, first_token=5.0, total=10.0, retries=0)

    first, second = await asyncio.gather(run(backend, timeouts), run(backend, timeouts))

    assert first.error is None and first.text
    assert second.error is not None and second.error.kind == "saturated"
    assert not second.error.retryable and second.elapsed < 1.0
    assert len(server.requests_for(served)) == 1


async def test_per_model_cap_lets_a_waiting_side_in_when_a_slot_frees(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(tokens=2, first_token_delay=0.2))
    backend = make_backend(client, "vllm", served, [server.base_url], max_concurrency=1)

    outs = await asyncio.gather(*(run(backend) for _ in range(3)))

    assert all(o.error is None for o in outs)


@pytest.mark.parametrize(
    ("header", "at_least"),
    [("retry-after: 1", 1.0), ("retry-after-ms: 600", 0.6)],
)
async def test_retry_after_is_honoured_before_the_first_token(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str, header: str, at_least: float
):
    server.set(served, Behaviour(mode="status_429", fail_times=1, tokens=3, retry_after=header))

    out = await run(make_backend(client, "vllm", served, [server.base_url]))

    assert out.error is None and out.text
    assert out.elapsed >= at_least
    assert len(server.requests_for(served)) == 2


async def test_retry_after_wait_is_capped_at_the_first_token_timeout(
    server: LoopbackLLM, client: httpx.AsyncClient, served: str
):
    server.set(served, Behaviour(mode="status_429", fail_times=1, retry_after="retry-after: 3600"))
    timeouts = Timeouts(connect=2.0, first_token=0.5, total=10.0, retries=1, backoff=0.01)

    out = await run(make_backend(client, "vllm", served, [server.base_url]), timeouts)

    assert out.error is None and 0.5 <= out.elapsed < 2.0


def test_retry_after_parses_seconds_dates_and_milliseconds():
    from arena.backends.wire import retry_after

    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412500.0) == 10.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("provider", "raw", "expected"),
    [
        ("vllm", "stop", "stop"),
        ("vllm", "length", "length"),
        ("vllm", "content_filter", "content_filter"),
        ("vllm", "tool_calls", "tool_calls"),
        ("vllm", "abort", "aborted"),
        ("vllm", "repetition", "aborted"),
        ("anthropic", "end_turn", "stop"),
        ("anthropic", "stop_sequence", "stop"),
        ("anthropic", "max_tokens", "length"),
        ("anthropic", "refusal", "refusal"),
        ("anthropic", "tool_use", "tool_calls"),
        ("anthropic", "pause_turn", "aborted"),
        ("gemini", "STOP", "stop"),
        ("gemini", "MAX_TOKENS", "length"),
        ("gemini", "SAFETY", "content_filter"),
        ("gemini", "RECITATION", "content_filter"),
        ("gemini", "BLOCKLIST", "content_filter"),
        ("gemini", "PROHIBITED_CONTENT", "content_filter"),
        ("gemini", "SPII", "content_filter"),
        ("gemini", "MALFORMED_FUNCTION_CALL", "error"),
        ("gemini", "OTHER", "error"),
    ],
)
async def test_finish_reasons_are_normalised_per_provider(
    server: LoopbackLLM,
    client: httpx.AsyncClient,
    served: str,
    provider: str,
    raw: str,
    expected: str,
):
    server.set(served, Behaviour(tokens=2, finish=raw))
    url = server.gemini_base_url if provider == "gemini" else server.base_url
    backend = make_backend(client, provider, served, [url])

    out = await run(backend)

    if expected in ("aborted", "error"):  # an answer cut or broken by the server fails
        assert isinstance(out.error, AnswerFailed) and out.end is None
        assert out.error.kind == {"aborted": "aborted", "error": "finish_error"}[expected]
        end = out.error.end
    else:
        assert out.error is None and out.end is not None
        end = out.end
    assert (end.finish_reason, end.raw_finish_reason) == (expected, raw)
    assert out.text  # text was shown: never retried
    assert len(server.requests_for(served)) == 1


async def test_every_failed_call_is_logged_without_the_text(
    client: httpx.AsyncClient, served: str, caplog: pytest.LogCaptureFixture
):
    backend = make_backend(client, "vllm", served, [dead_url()])
    port = backend.spec.base_urls[0].split(":")[2].split("/")[0]
    with caplog.at_level("WARNING", logger="arena.backends"):
        out = await run(backend)

    assert out.error is not None and out.error.kind == "connection"
    lines = [r.getMessage() for r in caplog.records if r.name == "arena.backends"]
    assert len(lines) == FAST.retries + 1
    for attempt, line in enumerate(lines, 1):
        assert f"model=m replica=127.0.0.1:{port} kind=connection" in line
        assert f"attempt={attempt}" in line
        assert all(m.content not in line for m in HISTORY)


async def test_unset_api_key_fails_at_once_and_is_logged(
    server: LoopbackLLM,
    client: httpx.AsyncClient,
    served: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    monkeypatch.delenv(KEY_ENV)
    backend = make_backend(client, "vllm", served, [server.base_url])
    with caplog.at_level("WARNING", logger="arena.backends"):
        out = await run(backend)

    assert out.error is not None and out.error.kind == "no_api_key"
    assert not server.requests_for(served)
    [line] = [r.getMessage() for r in caplog.records if r.name == "arena.backends"]
    assert "model=m" in line and "kind=no_api_key" in line and "attempt=1" in line
