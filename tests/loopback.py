"""A loopback LLM server that streams like vLLM, Anthropic and Gemini, and fails on demand.

Tests and benchmarks need a model server whose answers and faults are exact: an error
frame after the third chunk, a socket closed in the middle of an HTTP chunk, a stall
before the first token. This one is written on raw asyncio streams (minimal HTTP/1.1,
chunked responses, keep-alive) so nothing between the test and the socket smooths a
fault over, and it runs in its own thread with its own event loop so sync and async
callers can share it. Each served model name gets a :class:`Behaviour`.

    with LoopbackLLM() as server:
        server.set("tanuki", Behaviour(mode="cut", fail_times=1))
        ...  # point a backend at server.base_url
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

FAULTS = (
    "error_frame", "stall_before_first", "stall_after_first", "cut", "no_done",
    "prompt_blocked", "raw_error",
)  # fmt: skip
STATUSES = (400, 401, 404, 408, 409, 429, 500, 503, 529)
MODES = frozenset(("normal", *FAULTS, *(f"status_{s}" for s in STATUSES)))
WORDS = ("たぬき", "は", " arena", "で", "答え", "を", " write", "します", "。", " Hello", "、")
THOUGHTS = ("まず", "問い", "を", "考える", "。", " Let", " me", " think", "…")


@dataclass
class Behaviour:
    """How the server answers one served model name.

    ``fail_after`` is the number of content chunks sent before a mid-stream fault
    (``error_frame``, ``cut``: 0 means before any text; ``stall_after_first``: at least 1).
    ``finish`` overrides the finish reason of a complete answer; by default it is the
    protocol's "stop" (or its "length" when the request's token limit cut the answer).
    """

    mode: str = "normal"
    tokens: int = 20
    rate: float = 0.0
    text: str | None = None
    fail_times: int = -1
    stall_seconds: float = 30.0
    first_token_delay: float = 0.0
    fail_after: int = 3
    finish: str | None = None  # finish reason as the protocol spells it (e.g. Gemini "SAFETY")
    #: Header lines a 429/503 carries, e.g. "retry-after: 2" or "retry-after-ms: 300".
    retry_after: str = "retry-after: 1"
    #: More header lines for any status_* answer, e.g. "x-should-retry: false".
    headers: str = ""
    #: Reasoning chunks before the answer (vLLM ``delta.reasoning``, Anthropic thinking
    #: blocks, Gemini ``thought`` parts), each ``thinking_delay`` seconds after the last.
    thinking: int = 0
    thinking_delay: float = 0.0
    #: vLLM's reasoning field: "reasoning" (0.10 on), "reasoning_content" (before), "both".
    reasoning_field: str = "reasoning"
    #: The error of ``error_frame`` / ``raw_error``: vLLM's code, Anthropic's type, Gemini's code.
    error_code: int = 500
    error_type: str = "overloaded_error"
    #: vLLM: a tool call instead of text (finish "tool_calls"); every frame with "error": null;
    #: usage in every chunk (``continuous_usage_stats``), as if the client asked for it.
    tool_call: bool = False
    null_error: bool = False
    continuous_usage: bool = False
    #: Each frame's JSON split over several ``data:`` lines (joined again by SSE clients).
    split_data: bool = False
    #: Anthropic: prompt tokens read from the cache (reported apart from input_tokens).
    cache_read: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (known: {', '.join(sorted(MODES))})")

    def chunks(self) -> list[str]:
        """The answer as sent, one content chunk per token."""
        if self.text is None:
            return [WORDS[i % len(WORDS)] for i in range(max(0, self.tokens))]
        if not self.text:
            return []
        n = max(1, min(self.tokens, len(self.text)))
        cuts = [round(i * len(self.text) / n) for i in range(n + 1)]
        return [self.text[a:b] for a, b in itertools.pairwise(cuts)]

    def answer(self, max_tokens: int | None = None) -> str:
        """The full text a client should assemble, given the request's token limit."""
        room = None if max_tokens is None else max(0, max_tokens - self.thinking)
        return "".join(self.chunks()[:room])

    def thoughts(self) -> list[str]:
        """The reasoning as sent, one chunk per token."""
        return [THOUGHTS[i % len(THOUGHTS)] for i in range(max(0, self.thinking))]


def count_prompt_tokens(texts: Iterable[str]) -> int:
    """The loopback's token count of a prompt: one token per character."""
    return sum(len(t) for t in texts)


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received: float


@dataclass
class _Answer:
    """State of one streamed answer, shared by a dialect's frames."""

    model: str
    prompt_tokens: int
    include_usage: bool
    complete: bool
    behaviour: Behaviour = field(default_factory=Behaviour)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))
    sent: int = 0
    thought: int = 0
    blocks: list[str] = field(default_factory=list)  # Anthropic: content blocks opened


def _json(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: sent as a JSON escape, as servers do
        return json.dumps(obj, separators=(",", ":")).encode()


def _sse(obj: Any, event: str | None = None, sep: bytes = b"\n\n", split: bool = False) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    data = obj if isinstance(obj, bytes) else _json(obj)
    if split and not isinstance(obj, bytes):  # one data: line per top-level key, as a
        data = json.dumps(obj, ensure_ascii=False, indent=1).encode()  # pretty printer would
    line_end = sep[: len(sep) // 2]
    return head + line_end.join(b"data: " + part for part in data.split(b"\n")) + sep


class _OpenAI:
    """vLLM's OpenAI-compatible chat completions (serving_chat and its error responses)."""

    stop, length = "stop", "length"
    unauthorized = (401, {"error": "Unauthorized"})

    def model(self, req: _Request) -> str:
        return str((req.body or {}).get("model", ""))

    def max_tokens(self, body: dict[str, Any]) -> int | None:
        return body.get("max_completion_tokens") or body.get("max_tokens")

    def prompt(self, body: dict[str, Any]) -> list[str]:
        return [_text(m.get("content")) for m in body.get("messages") or []]

    def streaming(self, req: _Request, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def include_usage(self, body: dict[str, Any]) -> bool:
        return bool((body.get("stream_options") or {}).get("include_usage"))

    def authorized(self, req: _Request, key: str) -> bool:
        return req.headers.get("authorization") == f"Bearer {key}"

    def error(self, status: int, model: str = "") -> dict[str, Any]:
        kind = {
            404: "NotFoundError",
            429: "RateLimitError",
            500: "InternalServerError",
            503: "ServiceUnavailableError",
        }.get(status, "BadRequestError")
        message = f"loopback: simulated HTTP {status}"
        param = None
        if status == 404:
            message, param = f"The model `{model}` does not exist.", "model"
        return {"error": {"message": message, "type": kind, "param": param, "code": status}}

    def _usage(self, a: _Answer) -> dict[str, int]:
        done = a.sent + a.thought
        return {
            "prompt_tokens": a.prompt_tokens,
            "total_tokens": a.prompt_tokens + done,
            "completion_tokens": done,
        }

    def _chunk(self, a: _Answer, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        frame: dict[str, Any] = {
            "id": f"chatcmpl-{a.id}",
            "object": "chat.completion.chunk",
            "created": a.created,
            "model": a.model,
            "choices": [choice],
        }
        if a.include_usage and a.behaviour.continuous_usage:
            frame["usage"] = self._usage(a)
        if a.behaviour.null_error:
            frame["error"] = None
        return _sse(frame, split=a.behaviour.split_data)

    def opening(self, a: _Answer) -> bytes:
        return self._chunk(a, {"role": "assistant", "content": ""}, None)

    def reasoning(self, a: _Answer, text: str) -> bytes:
        field = a.behaviour.reasoning_field
        names = ("reasoning", "reasoning_content") if field == "both" else (field,)
        return self._chunk(a, dict.fromkeys(names, text), None)

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        if a.behaviour.tool_call:
            call = {
                "index": 0,
                "id": f"chatcmpl-tool-{a.id}",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"q": text})},
            }
            return self._chunk(a, {"tool_calls": [call]}, finish)
        return self._chunk(a, {"content": text}, finish)

    def closing(self, a: _Answer, finish: str) -> bytes:
        out = b"" if a.sent else self._chunk(a, {"content": ""}, finish)
        if a.include_usage:
            usage = self._usage(a)
            frame = {
                "id": f"chatcmpl-{a.id}",
                "object": "chat.completion.chunk",
                "created": a.created,
                "model": a.model,
                "choices": [],
                "usage": usage,
            }
            out += _sse(frame, split=a.behaviour.split_data)
        return out + (b"data: [DONE]\n\n" if a.complete else b"")

    def error_frame(self, a: _Answer) -> bytes:
        # vLLM >= 0.10: ErrorResponse(error=ErrorInfo(...)), no "object" key any more.
        code = a.behaviour.error_code
        kind = "InternalServerError" if code >= 500 else "BadRequestError"
        message = "loopback: simulated engine failure" if code >= 500 else "loopback: bad request"
        error = {"message": message, "type": kind, "param": None, "code": code}
        return _sse({"error": error}) + b"data: [DONE]\n\n"

    def raw_error(self, a: _Answer) -> bytes:
        return self.error_frame(a)

    def blocked(self, a: _Answer) -> bytes:
        return self.closing(a, "content_filter")


class _Anthropic:
    """Anthropic's Messages API (the SDK's streaming events and error bodies)."""

    stop, length = "end_turn", "max_tokens"
    unauthorized = (
        401,
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        },
    )

    def model(self, req: _Request) -> str:
        return str((req.body or {}).get("model", ""))

    def max_tokens(self, body: dict[str, Any]) -> int | None:
        return body.get("max_tokens")

    def prompt(self, body: dict[str, Any]) -> list[str]:
        texts = [_text(body.get("system"))] if body.get("system") else []
        return texts + [_text(m.get("content")) for m in body.get("messages") or []]

    def streaming(self, req: _Request, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def include_usage(self, body: dict[str, Any]) -> bool:
        return True

    def authorized(self, req: _Request, key: str) -> bool:
        return req.headers.get("x-api-key") == key

    def error(self, status: int, model: str = "") -> dict[str, Any]:
        kind = {
            404: "not_found_error",
            429: "rate_limit_error",
            500: "api_error",
            529: "overloaded_error",
        }.get(status, "invalid_request_error")
        message = "Overloaded" if status == 529 else f"loopback: simulated HTTP {status}"
        return {"type": "error", "error": {"type": kind, "message": message}}

    def opening(self, a: _Answer) -> bytes:
        message = {
            "id": f"msg_{a.id}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": a.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": a.prompt_tokens - a.behaviour.cache_read,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": a.behaviour.cache_read,
                "output_tokens": 1,
            },
        }
        return _sse({"type": "message_start", "message": message}, "message_start") + _sse(
            {"type": "ping"}, "ping"
        )

    def _block(self, a: _Answer, kind: str) -> bytes:
        """Close the open block and open one of ``kind``, unless it is the open one."""
        if a.blocks and a.blocks[-1] == kind:
            return b""
        out = self._stop_block(a)
        a.blocks.append(kind)
        block = (
            {"type": "thinking", "thinking": ""}
            if kind == "thinking"
            else {"type": "text", "text": ""}
        )
        start = {"type": "content_block_start", "index": len(a.blocks) - 1, "content_block": block}
        return out + _sse(start, "content_block_start")

    def _stop_block(self, a: _Answer) -> bytes:
        if not a.blocks or a.blocks[-1] == "closed":
            return b""
        out = b""
        if a.blocks[-1] == "thinking":
            signature = {"type": "signature_delta", "signature": "EqQBCgIYAhIM" + a.id}
            out = _sse(
                {"type": "content_block_delta", "index": len(a.blocks) - 1, "delta": signature},
                "content_block_delta",
            )
        out += _sse(
            {"type": "content_block_stop", "index": len(a.blocks) - 1}, "content_block_stop"
        )
        a.blocks[-1] = "closed" if a.blocks[-1] == "text" else "thinking-closed"
        return out

    def reasoning(self, a: _Answer, text: str) -> bytes:
        delta = {"type": "thinking_delta", "thinking": text}
        frame = {"type": "content_block_delta", "index": len(a.blocks), "delta": delta}
        head = self._block(a, "thinking")
        frame["index"] = len(a.blocks) - 1
        return head + _sse(frame, "content_block_delta", split=a.behaviour.split_data)

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        head = self._block(a, "text")
        delta = {"type": "text_delta", "text": text}
        frame = {"type": "content_block_delta", "index": len(a.blocks) - 1, "delta": delta}
        return head + _sse(frame, "content_block_delta", split=a.behaviour.split_data)

    def closing(self, a: _Answer, finish: str) -> bytes:
        usage = {  # message_delta's usage is cumulative, input and cache tokens included
            "input_tokens": a.prompt_tokens - a.behaviour.cache_read,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": a.behaviour.cache_read,
            "output_tokens": a.sent + a.thought,
        }
        out = self._stop_block(a) + _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": finish, "stop_sequence": None},
                "usage": usage,
            },
            "message_delta",
        )
        return out + (_sse({"type": "message_stop"}, "message_stop") if a.complete else b"")

    def error_frame(self, a: _Answer) -> bytes:
        kind = a.behaviour.error_type
        message = {"overloaded_error": "Overloaded"}.get(kind, f"loopback: {kind}")
        return _sse({"type": "error", "error": {"type": kind, "message": message}}, "error")

    def raw_error(self, a: _Answer) -> bytes:
        return self.error_frame(a)

    def blocked(self, a: _Answer) -> bytes:
        return self.closing(a, "refusal")


class _Gemini:
    """Gemini's streamGenerateContent with ``alt=sse`` (frames end in CRLF CRLF)."""

    stop, length = "STOP", "MAX_TOKENS"
    unauthorized = (
        401,
        {"error": {"code": 401, "message": "API key not valid.", "status": "UNAUTHENTICATED"}},
    )

    def model(self, req: _Request) -> str:
        return req.path.removeprefix("/v1beta/models/").partition(":")[0]

    def max_tokens(self, body: dict[str, Any]) -> int | None:
        return (body.get("generationConfig") or {}).get("maxOutputTokens")

    def prompt(self, body: dict[str, Any]) -> list[str]:
        blocks = [body.get("systemInstruction") or {}, *(body.get("contents") or [])]
        return [_text(p.get("text")) for b in blocks for p in b.get("parts") or []]

    def streaming(self, req: _Request, body: dict[str, Any]) -> bool:
        return req.query.get("alt") == "sse"

    def include_usage(self, body: dict[str, Any]) -> bool:
        return True

    def authorized(self, req: _Request, key: str) -> bool:
        return key in (req.headers.get("x-goog-api-key"), req.query.get("key"))

    def error(self, status: int, model: str = "") -> dict[str, Any]:
        kind = {
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }.get(status, "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": f"loopback: HTTP {status}", "status": kind}}

    def _usage(self, a: _Answer, final: bool) -> dict[str, int]:
        usage = {
            "promptTokenCount": a.prompt_tokens,
            "totalTokenCount": a.prompt_tokens + a.sent + a.thought,
        }
        if final:
            usage["candidatesTokenCount"] = a.sent
            if a.thought:
                usage["thoughtsTokenCount"] = a.thought
        return usage

    def _frame(self, a: _Answer, parts: list[dict[str, Any]], finish: str | None) -> bytes:
        candidate: dict[str, Any] = {}
        if parts:  # a SAFETY stop with nothing said has no content at all
            candidate["content"] = {"parts": parts, "role": "model"}
        final = bool(finish and a.complete)
        if final:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        frame = {
            "candidates": [candidate],
            "usageMetadata": self._usage(a, final),
            "modelVersion": a.model,
            "responseId": a.id,
        }
        return _sse(frame, sep=b"\r\n\r\n", split=a.behaviour.split_data)

    def opening(self, a: _Answer) -> bytes:
        return b""

    def reasoning(self, a: _Answer, text: str) -> bytes:
        return self._frame(a, [{"text": text, "thought": True}], None)

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        return self._frame(a, [{"text": text}], finish)

    def closing(self, a: _Answer, finish: str) -> bytes:
        return b"" if a.sent else self._frame(a, [], finish)

    def error_frame(self, a: _Answer) -> bytes:
        error = {"code": 500, "message": "loopback: simulated failure", "status": "INTERNAL"}
        return _sse({"error": error}, sep=b"\r\n\r\n")

    def raw_error(self, a: _Answer) -> bytes:
        """An error body as plain JSON over several lines, inside the 200 stream."""
        code = a.behaviour.error_code
        status = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(code, "INTERNAL")
        if code < 500 and code != 429:
            status = "INVALID_ARGUMENT"
        error = {"code": code, "message": "loopback: {raw} model failure", "status": status}
        return json.dumps({"error": error}, indent=2).encode().replace(b"\n", b"\r\n") + b"\r\n"

    def blocked(self, a: _Answer) -> bytes:
        """A prompt blocked before any candidate: promptFeedback only."""
        frame = {
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                ],
            },
            "usageMetadata": {
                "promptTokenCount": a.prompt_tokens,
                "totalTokenCount": a.prompt_tokens,
            },
            "modelVersion": a.model,
            "responseId": a.id,
        }
        return _sse(frame, sep=b"\r\n\r\n")


Dialect = _OpenAI | _Anthropic | _Gemini
OPENAI, ANTHROPIC, GEMINI = _OpenAI(), _Anthropic(), _Gemini()


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _phrase(status: int) -> str:
    """The reason phrase (Anthropic's 529 is not in the standard's list)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return {529: "Site Overloaded"}.get(status, "Unknown")


class _BadRequest(Exception):
    pass


class _Conn:
    """One client connection: reading requests, writing (chunked) responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> _Request | None:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest(f"bad request line {lines[0]!r}") from exc
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise _BadRequest("chunked request bodies are not supported")
        raw = await self.reader.readexactly(int(headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            raise _BadRequest("request body is not JSON") from exc
        url = urlsplit(target)
        query = dict(parse_qsl(url.query))
        return _Request(method, unquote(url.path), query, headers, body, time.monotonic())

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def respond(
        self, status: int, body: bytes, content_type: str, close: bool, extra: str = ""
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_phrase(status)}\r\n"
            f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n{extra}"
            + ("connection: close\r\n" if close else "")
            + "\r\n"
        )
        await self.send(head.encode() + body)

    async def start_stream(self, content_type: str, close: bool) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n"
            "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            + ("connection: close\r\n" if close else "")
            + "\r\n"
        )
        await self.send(head.encode())

    async def chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            await self.send(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_stream(self) -> None:
        await self.send(b"0\r\n\r\n")

    async def cut(self) -> None:
        """Close the socket in the middle of an HTTP chunk, like a crashed server."""
        await self.send(b'400\r\ndata: {"id":')
        self.writer.close()

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False as soon as the client hangs up."""
        try:
            async with asyncio.timeout(seconds):
                while await self.reader.read(4096):
                    pass
                return False
        except TimeoutError:
            return True


class LoopbackLLM:
    """A model server on 127.0.0.1 in a background thread; see the module docstring.

    ``api_key``, when given, is required from clients (``Authorization: Bearer``,
    ``x-api-key`` or ``x-goog-api-key`` by protocol); a wrong key gets a 401.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.connections = 0  # TCP connections accepted, to see whether clients reuse them
        self._first_token_times: list[float] = []
        self._behaviours: dict[str, Behaviour] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """Base URL for OpenAI-compatible and Anthropic clients."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def gemini_base_url(self) -> str:
        """Base URL for Gemini clients."""
        return f"http://{self.host}:{self.port}/v1beta"

    def set(self, model: str, behaviour: Behaviour) -> None:
        """Answer requests for ``model`` this way from now on (its fail count restarts)."""
        with self._lock:
            self._behaviours[model] = behaviour
            self._failures[model] = 0

    def reset(self) -> None:
        """Forget behaviours, recorded requests and timings."""
        with self._lock:
            self._behaviours.clear()
            self._failures.clear()
            self.requests.clear()
            self._first_token_times.clear()

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        """The recorded requests for one served model name."""
        with self._lock:
            return [r for r in self.requests if r["model"] == model]

    def first_token_times(self) -> list[float]:
        """Seconds from request received to first content chunk sent, per streamed answer."""
        with self._lock:
            return list(self._first_token_times)

    def start(self) -> LoopbackLLM:
        """Start serving; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("LoopbackLLM already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="loopback-llm", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"LoopbackLLM could not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Stop serving, ending every open connection (stalls included)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> LoopbackLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
            )
        except OSError as exc:
            self._error = exc
            loop.close()
            ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        self._closing = True
        assert self._server is not None
        self._server.close()
        await asyncio.sleep(0)  # let connections accepted just now register themselves
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = _Conn(reader, writer)
        try:
            while not self._closing and await self._one(conn):
                pass
        except _BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                await conn.respond(400, _json({"error": str(exc)}), "application/json", close=True)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # Cancelled by stop(): end quietly (3.11's start_server logs cancelled handlers).
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one(self, conn: _Conn) -> bool:
        """Serve one request; True if the connection stays open for another."""
        req = await conn.read_request()
        if req is None:
            return False
        keep = req.headers.get("connection", "").lower() != "close"
        dialect: Dialect | None = None
        if req.method == "POST" and req.path == "/v1/chat/completions":
            dialect = OPENAI
        elif req.method == "POST" and req.path == "/v1/messages":
            dialect = ANTHROPIC
        elif req.method == "POST" and req.path.startswith("/v1beta/models/"):
            dialect = GEMINI if req.path.endswith(":streamGenerateContent") else None
        self._record(req, dialect.model(req) if dialect else None)
        if dialect is not None:
            return await self._generate(conn, dialect, req) and keep
        if req.method == "GET" and req.path == "/health":
            await conn.respond(200, b"", "text/plain", not keep)
        elif req.method == "GET" and req.path == "/v1/models":
            with self._lock:
                names = sorted(self._behaviours)
            data = [{"id": n, "object": "model", "owned_by": "loopback"} for n in names]
            await conn.respond(
                200, _json({"object": "list", "data": data}), "application/json", not keep
            )
        else:
            body = _json({"error": f"no route for {req.method} {req.path}"})
            await conn.respond(404, body, "application/json", not keep)
        return keep

    def _record(self, req: _Request, model: str | None) -> None:
        entry = {
            "path": req.path,
            "query": req.query,
            "headers": req.headers,
            "body": req.body,
            "model": model,
            "received": req.received,
        }
        with self._lock:
            self.requests.append(entry)

    def _mode(self, model: str) -> tuple[Behaviour, str]:
        """The behaviour for ``model`` and the mode this request gets (after fail_times)."""
        with self._lock:
            behaviour = self._behaviours.get(model) or Behaviour()
            if behaviour.mode == "normal" or behaviour.fail_times < 0:
                return behaviour, behaviour.mode
            failed = self._failures.get(model, 0)
            if failed >= behaviour.fail_times:
                return behaviour, "normal"
            self._failures[model] = failed + 1
            return behaviour, behaviour.mode

    async def _generate(self, conn: _Conn, dialect: Dialect, req: _Request) -> bool:
        body = req.body if isinstance(req.body, dict) else {}
        if self.api_key is not None and not dialect.authorized(req, self.api_key):
            status, error = dialect.unauthorized
            await conn.respond(status, _json(error), "application/json", close=False)
            return True
        if not dialect.streaming(req, body):
            error = {"error": "this loopback server only streams (stream: true, alt=sse)"}
            await conn.respond(400, _json(error), "application/json", close=False)
            return True
        model = dialect.model(req)
        behaviour, mode = self._mode(model)
        if mode == "status_401":
            status, error = dialect.unauthorized
            await conn.respond(status, _json(error), "application/json", close=False)
            return True
        if mode.startswith("status_"):
            status = int(mode[-3:])
            extra = "".join(
                f"{line}\r\n"
                for line in (behaviour.retry_after if status == 429 else "", behaviour.headers)
                if line
            )
            error_body = _json(dialect.error(status, model))
            await conn.respond(status, error_body, "application/json", close=False, extra=extra)
            return True
        return await self._stream(conn, dialect, req, body, behaviour, mode)

    async def _stream(
        self,
        conn: _Conn,
        dialect: Dialect,
        req: _Request,
        body: dict[str, Any],
        behaviour: Behaviour,
        mode: str,
    ) -> bool:
        chunks, finish = behaviour.chunks(), dialect.stop
        thoughts = behaviour.thoughts()
        limit = dialect.max_tokens(body)
        if isinstance(limit, int) and limit < len(thoughts) + len(chunks):
            thoughts = thoughts[:limit]
            chunks, finish = chunks[: limit - len(thoughts)], dialect.length
        finish = behaviour.finish or finish
        answer = _Answer(
            model=dialect.model(req),
            prompt_tokens=count_prompt_tokens(dialect.prompt(body)),
            include_usage=dialect.include_usage(body),
            complete=mode != "no_done",
            behaviour=behaviour,
        )
        fault_at = {
            "error_frame": min(max(0, behaviour.fail_after), len(chunks)),
            "raw_error": min(max(0, behaviour.fail_after), len(chunks)),
            "cut": min(max(0, behaviour.fail_after), len(chunks)),
            "stall_after_first": min(max(1, behaviour.fail_after), len(chunks)),
        }.get(mode, -1)
        content_type = (
            "text/event-stream" if dialect is GEMINI else "text/event-stream; charset=utf-8"
        )
        await conn.start_stream(content_type, close=mode != "normal")
        await conn.chunk(dialect.opening(answer))
        if mode == "prompt_blocked":
            await conn.chunk(dialect.blocked(answer))
            await conn.end_stream()
            return False
        if mode == "stall_before_first" and not await conn.pause(behaviour.stall_seconds):
            return False
        if behaviour.first_token_delay > 0:
            await asyncio.sleep(behaviour.first_token_delay)
        for thought in thoughts:
            if behaviour.thinking_delay > 0 and not await conn.pause(behaviour.thinking_delay):
                return False
            answer.thought += 1
            await conn.chunk(dialect.reasoning(answer, thought))
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(len(chunks) + 1):
            if i == fault_at:
                if mode in ("error_frame", "raw_error"):
                    fault = dialect.error_frame if mode == "error_frame" else dialect.raw_error
                    await conn.chunk(fault(answer))
                    await conn.end_stream()
                    return False
                if mode == "cut":
                    await conn.cut()
                    return False
                if not await conn.pause(behaviour.stall_seconds):
                    return False
                start = loop.time() - (i / behaviour.rate if behaviour.rate > 0 else 0.0)
            if i == len(chunks):
                break
            if behaviour.rate > 0:
                delay = start + i / behaviour.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            answer.sent += 1
            last = i == len(chunks) - 1
            await conn.chunk(dialect.content(answer, chunks[i], finish if last else None))
            if i == 0:
                with self._lock:
                    self._first_token_times.append(time.monotonic() - req.received)
        await conn.chunk(dialect.closing(answer, finish))
        await conn.end_stream()
        return mode == "normal"
