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

FAULTS = ("error_frame", "stall_before_first", "stall_after_first", "cut", "no_done")
MODES = frozenset(("normal", *FAULTS, "status_500", "status_429", "status_401"))
WORDS = ("たぬき", "は", " arena", "で", "答え", "を", " write", "します", "。", " Hello", "、")


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
        return "".join(self.chunks()[:max_tokens])


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
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))
    sent: int = 0


def _json(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: sent as a JSON escape, as servers do
        return json.dumps(obj, separators=(",", ":")).encode()


def _sse(obj: Any, event: str | None = None, sep: bytes = b"\n\n") -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + (obj if isinstance(obj, bytes) else _json(obj)) + sep


class _OpenAI:
    """vLLM's OpenAI-compatible chat completions."""

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

    def error(self, status: int) -> dict[str, Any]:
        kind = {429: "RateLimitError", 500: "InternalServerError"}.get(status, "BadRequestError")
        message = f"loopback: simulated HTTP {status}"
        return {"error": {"message": message, "type": kind, "param": None, "code": status}}

    def _chunk(self, a: _Answer, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse(
            {
                "id": f"chatcmpl-{a.id}",
                "object": "chat.completion.chunk",
                "created": a.created,
                "model": a.model,
                "choices": [choice],
            }
        )

    def opening(self, a: _Answer) -> bytes:
        return self._chunk(a, {"role": "assistant", "content": ""}, None)

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        return self._chunk(a, {"content": text}, finish)

    def closing(self, a: _Answer, finish: str) -> bytes:
        out = b"" if a.sent else self._chunk(a, {"content": ""}, finish)
        if a.include_usage:
            usage = {
                "prompt_tokens": a.prompt_tokens,
                "total_tokens": a.prompt_tokens + a.sent,
                "completion_tokens": a.sent,
            }
            out += _sse(
                {
                    "id": f"chatcmpl-{a.id}",
                    "object": "chat.completion.chunk",
                    "created": a.created,
                    "model": a.model,
                    "choices": [],
                    "usage": usage,
                }
            )
        return out + (b"data: [DONE]\n\n" if a.complete else b"")

    def error_frame(self, a: _Answer) -> bytes:
        error = {
            "object": "error",
            "message": "loopback: simulated engine failure",
            "type": "InternalServerError",
            "param": None,
            "code": 500,
        }
        return _sse({"error": error}) + b"data: [DONE]\n\n"


class _Anthropic:
    """Anthropic's Messages API."""

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

    def error(self, status: int) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 500: "api_error"}.get(status, "invalid_request_error")
        message = f"loopback: simulated HTTP {status}"
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
            "usage": {"input_tokens": a.prompt_tokens, "output_tokens": 1},
        }
        block = {"type": "text", "text": ""}
        return (
            _sse({"type": "message_start", "message": message}, "message_start")
            + _sse(
                {"type": "content_block_start", "index": 0, "content_block": block},
                "content_block_start",
            )
            + _sse({"type": "ping"}, "ping")
        )

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _sse(
            {"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"
        )

    def closing(self, a: _Answer, finish: str) -> bytes:
        out = _sse({"type": "content_block_stop", "index": 0}, "content_block_stop") + _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": finish, "stop_sequence": None},
                "usage": {"output_tokens": a.sent},
            },
            "message_delta",
        )
        return out + (_sse({"type": "message_stop"}, "message_stop") if a.complete else b"")

    def error_frame(self, a: _Answer) -> bytes:
        error = {"type": "overloaded_error", "message": "Overloaded"}
        return _sse({"type": "error", "error": error}, "error")


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

    def error(self, status: int) -> dict[str, Any]:
        kind = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}.get(status, "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": f"loopback: HTTP {status}", "status": kind}}

    def _frame(self, a: _Answer, text: str, finish: str | None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        usage = {"promptTokenCount": a.prompt_tokens, "totalTokenCount": a.prompt_tokens + a.sent}
        if finish and a.complete:
            candidate["finishReason"] = finish
            usage["candidatesTokenCount"] = a.sent
        candidate["index"] = 0
        frame = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": a.model}
        return _sse(frame, sep=b"\r\n\r\n")

    def opening(self, a: _Answer) -> bytes:
        return b""

    def content(self, a: _Answer, text: str, finish: str | None) -> bytes:
        return self._frame(a, text, finish)

    def closing(self, a: _Answer, finish: str) -> bytes:
        return b"" if a.sent else self._frame(a, "", finish)

    def error_frame(self, a: _Answer) -> bytes:
        error = {"code": 500, "message": "loopback: simulated failure", "status": "INTERNAL"}
        return _sse({"error": error}, sep=b"\r\n\r\n")


Dialect = _OpenAI | _Anthropic | _Gemini
OPENAI, ANTHROPIC, GEMINI = _OpenAI(), _Anthropic(), _Gemini()


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


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
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
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
        if mode in ("status_500", "status_429"):
            status = int(mode[-3:])
            extra = (
                f"{behaviour.retry_after}\r\n" if status == 429 and behaviour.retry_after else ""
            )
            error_body = _json(dialect.error(status))
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
        limit = dialect.max_tokens(body)
        if isinstance(limit, int) and limit < len(chunks):
            chunks, finish = chunks[:limit], dialect.length
        finish = behaviour.finish or finish
        answer = _Answer(
            model=dialect.model(req),
            prompt_tokens=count_prompt_tokens(dialect.prompt(body)),
            include_usage=dialect.include_usage(body),
            complete=mode != "no_done",
        )
        fault_at = {
            "error_frame": min(max(0, behaviour.fail_after), len(chunks)),
            "cut": min(max(0, behaviour.fail_after), len(chunks)),
            "stall_after_first": min(max(1, behaviour.fail_after), len(chunks)),
        }.get(mode, -1)
        content_type = (
            "text/event-stream" if dialect is GEMINI else "text/event-stream; charset=utf-8"
        )
        await conn.start_stream(content_type, close=mode != "normal")
        await conn.chunk(dialect.opening(answer))
        if mode == "stall_before_first" and not await conn.pause(behaviour.stall_seconds):
            return False
        if behaviour.first_token_delay > 0:
            await asyncio.sleep(behaviour.first_token_delay)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(len(chunks) + 1):
            if i == fault_at:
                if mode == "error_frame":
                    await conn.chunk(dialect.error_frame(answer))
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
