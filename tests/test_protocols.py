"""Each protocol case of the real sources, through the battle service into a SQLite file.

The loopback server speaks the current shapes of vLLM's chat stream and error bodies,
Anthropic's Messages events and Gemini's SSE (see tests/loopback.py). Every case runs a
real battle (the model under test on side A, a plain vLLM model on side B), then reads
the stored row: what the volunteer is left with, the finish reason in both spellings,
the provider's own error code, the reasoning kept apart, and how many requests the
server received (retries happen only where the real semantics allow them).
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from arena.backends import build_backends, client_for
from arena.battles import Arena, TurnState, VoterRef, error_code
from arena.config import ModelSpec, Settings
from arena.db import make_engine, migrate, session_factory
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side, Voter, Winner
from tests.loopback import Behaviour, LoopbackLLM

VOTER = VoterRef("p" * 32, "192.0.2.7")


@pytest.fixture(scope="module")
def server():
    with LoopbackLLM() as running:
        yield running


@dataclass
class Played:
    """A finished battle: side A's stored answer, what the page was sent, requests made."""

    row: Message
    states: list[TurnState]
    requests: int
    arena: Arena
    battle_id: str

    @property
    def code(self) -> str | None:
        return error_code(self.row.error)


async def play(
    tmp_path: Path,
    server: LoopbackLLM,
    served: str,
    provider: str,
    behaviour: Behaviour,
    **settings: object,
) -> Played:
    """One named battle: ``served`` (with ``behaviour``) against a plain vLLM model."""
    server.set(served, behaviour)
    server.set(f"{served}-plain", Behaviour(tokens=4))
    spec: dict[str, object] = {"reasoning": "default", "max_tokens": 64}
    spec |= {k: settings.pop(k) for k in ("reasoning", "max_tokens") if k in settings}
    url = server.gemini_base_url if provider == "gemini" else server.base_url
    models = (
        ModelSpec(name="Probe", provider=provider, model=served, base_urls=(url,),
                  **spec),  # type: ignore[arg-type]
        ModelSpec(name="Plain", provider="vllm", model=f"{served}-plain",
                  base_urls=(server.base_url,)),
    )  # fmt: skip
    db = tmp_path / "arena.db"
    base = Settings(database_url=f"sqlite:///{db}", models=models, secret="s",
                    first_token_timeout=2.0, total_timeout=15.0, retries=2)  # fmt: skip
    conf = dataclasses.replace(base, **settings)
    engine = make_engine(conf.database_url)
    migrate(engine)
    async with client_for(conf) as client:
        arena = Arena(conf, session_factory(engine), build_backends(conf.models, client),
                      rng=random.Random(3))  # fmt: skip
        with arena.sessions.begin() as s:
            s.add(Voter(token=VOTER.token))
        states = []
        async for st in arena.send(
            VOTER, "質問です", mode=BattleMode.NAMED, models=("Probe", "Plain")
        ):
            sides = {k: dataclasses.replace(v) for k, v in st.sides.items()}
            states.append(dataclasses.replace(st, sides=sides))
    with arena.sessions() as s:
        row = s.scalars(
            select(Message).where(Message.side == Side.A, Message.role == "assistant")
        ).one()
        plain = s.scalars(
            select(Message).where(Message.side == Side.B, Message.role == "assistant")
        ).one()
        assert plain.error is None and plain.content  # the other side is untouched
    engine.dispose()
    return Played(row, states, len(server.requests_for(served)), arena, states[-1].battle_id)


@pytest.fixture
def served(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[-80:]


def shown(played: Played) -> str:
    """Everything side A's pane was ever sent before the vote."""
    return " ".join(st.sides[Side.A].text + str(st.sides[Side.A].error) for st in played.states)


# -- reasoning ----------------------------------------------------------------------

THINKING = "まず問いを考える。 Let me think…"


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ("vllm", "reasoning"),
        ("vllm", "reasoning_content"),
        ("vllm", "both"),
        ("anthropic", "-"),
        ("gemini", "-"),
    ],
)
async def test_thinking_longer_than_the_first_token_limit_is_life(
    tmp_path, server, served, provider, field
):
    behaviour = Behaviour(tokens=4, thinking=9, thinking_delay=0.25, reasoning_field=field)
    played = await play(tmp_path, server, served, provider, behaviour, first_token_timeout=1.0)

    assert played.row.error is None and played.code is None
    assert played.row.content == behaviour.answer()
    assert played.row.reasoning == THINKING  # stored apart, once even when sent twice
    assert played.row.finish_reason == "stop"
    assert played.requests == 1  # 2.25 s of thinking, no retry
    assert "think" not in shown(played) and "考える" not in shown(played)


async def test_reasoning_only_answer_fails_the_side(tmp_path, server, served):
    played = await play(tmp_path, server, served, "vllm", Behaviour(tokens=4, thinking=9),
                        max_tokens=5)  # fmt: skip

    assert played.code == "reasoning_only" and played.row.content == ""
    assert (played.row.finish_reason, played.row.finish_raw) == ("length", "length")
    assert played.row.reasoning == "まず問いを考える。"
    assert played.requests == 1
    assert played.states[-1].sides[Side.A].error == "reasoning_only"
    with played.arena.sessions() as s:
        assert s.get(Battle, played.battle_id).status is BattleStatus.FAILED


async def test_reasoning_timeout_applies_from_the_first_thought(tmp_path, server, served):
    behaviour = Behaviour(tokens=4, thinking=40, thinking_delay=0.1)
    played = await play(tmp_path, server, served, "vllm", behaviour, reasoning_timeout=1.0)

    assert played.code == "reasoning_timeout"
    assert played.row.reasoning and "think" in played.row.reasoning
    assert played.requests == 1  # thinking again would take as long


@pytest.mark.parametrize("show", [False, True])
async def test_reasoning_is_revealed_after_the_vote_only_when_allowed(
    tmp_path, server, served, show
):
    played = await play(tmp_path, server, served, "gemini", Behaviour(tokens=3, thinking=3),
                        show_reasoning_after_vote=show)  # fmt: skip
    assert all("問い" not in st.sides[Side.A].text for st in played.states)

    reveal = await played.arena.vote(VOTER, played.battle_id, Winner.TIE)

    assert reveal.reasoning == ({Side.A: "まず問いを"} if show else {})


async def test_reasoning_is_requested_per_model(tmp_path, server, served):
    await play(tmp_path, server, served, "vllm", Behaviour(tokens=2), reasoning="off")
    await play(tmp_path / "on", server, served, "anthropic", Behaviour(tokens=2),
               reasoning="on", max_tokens=4096)  # fmt: skip
    await play(tmp_path / "g", server, served, "gemini", Behaviour(tokens=2), reasoning="on")
    off, on, gemini = (r["body"] for r in server.requests_for(served))
    assert off["chat_template_kwargs"] == {"enable_thinking": False}
    assert on["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in on
    assert gemini["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}


# -- finish reasons and blank answers -------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "behaviour", "code", "finish", "raw", "requests"),
    [
        # vLLM: a request the engine aborted is never complete; before any text, retried.
        ("vllm", Behaviour(tokens=5, finish="abort"), "aborted", "aborted", "abort", 1),
        ("vllm", Behaviour(text="", finish="abort"), "aborted", "aborted", "abort", 3),
        ("vllm", Behaviour(tokens=5, finish="repetition"), "aborted", "aborted", "repetition", 1),
        ("vllm", Behaviour(tokens=2, tool_call=True, finish="tool_calls"),
         "tool_calls", "tool_calls", "tool_calls", 1),
        ("vllm", Behaviour(text="", finish="stop"), "empty", "stop", "stop", 1),
        ("anthropic", Behaviour(text="", finish="refusal"), "refusal", "refusal", "refusal", 1),
        ("anthropic", Behaviour(tokens=3, finish="pause_turn"), "aborted", "aborted",
         "pause_turn", 1),
        ("gemini", Behaviour(text="", finish="SAFETY"), "content_filter", "content_filter",
         "SAFETY", 1),
        ("gemini", Behaviour(mode="prompt_blocked"), "content_filter", "content_filter",
         "PROMPT_BLOCKED:PROHIBITED_CONTENT", 1),
        ("gemini", Behaviour(tokens=3, finish="OTHER"), "finish_error", "error", "OTHER", 1),
    ],
)  # fmt: skip
async def test_answers_with_nothing_to_vote_on_fail_the_side(
    tmp_path, server, served, provider, behaviour, code, finish, raw, requests
):
    played = await play(tmp_path, server, served, provider, behaviour)

    assert played.code == code
    assert (played.row.finish_reason, played.row.finish_raw) == (finish, raw)
    assert played.requests == requests
    assert played.states[-1].sides[Side.A].error == code  # the page gets the code only
    assert not played.states[-1].votable


async def test_a_kept_answer_stores_both_finish_spellings_and_usage(tmp_path, server, served):
    behaviour = Behaviour(tokens=6, cache_read=5)
    played = await play(tmp_path, server, served, "anthropic", behaviour, max_tokens=4)

    assert played.row.error is None and played.row.content == behaviour.answer(4)
    assert (played.row.finish_reason, played.row.finish_raw) == ("length", "max_tokens")
    request = server.requests_for(served)[0]["body"]
    from tests.loopback import ANTHROPIC, count_prompt_tokens

    assert played.row.prompt_tokens == count_prompt_tokens(ANTHROPIC.prompt(request))
    assert played.row.completion_tokens == 4


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(tokens=5, null_error=True),
        Behaviour(tokens=5, split_data=True),
        Behaviour(tokens=5, continuous_usage=True),
        Behaviour(tokens=5, split_data=True, thinking=2),
    ],
    ids=["error-null", "multi-line-data", "continuous-usage", "multi-line-reasoning"],
)
async def test_vllm_stream_variants_are_ordinary_answers(tmp_path, server, served, behaviour):
    played = await play(tmp_path, server, served, "vllm", behaviour)

    assert played.row.error is None and played.row.content == behaviour.answer()
    assert played.row.completion_tokens == 5 + behaviour.thinking
    assert played.row.finish_reason == "stop" and played.requests == 1


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "behaviour", "code", "upstream", "message", "requests"),
    [
        # vLLM error frames: a 400 is the request's fault (no retry), a 500 the server's.
        ("vllm", Behaviour(mode="error_frame", fail_after=0, error_code=400), "stream_error",
         "400", "loopback: bad request", 1),
        ("vllm", Behaviour(mode="error_frame", fail_after=0), "stream_error", "500",
         "loopback: simulated engine failure", 3),
        ("vllm", Behaviour(mode="status_400"), "http_400", "BadRequestError",
         "loopback: simulated HTTP 400", 1),
        ("vllm", Behaviour(mode="status_404"), "http_404", "NotFoundError", "does not exist", 1),
        ("vllm", Behaviour(mode="status_503", headers="x-should-retry: false"), "http_503",
         "ServiceUnavailableError", "HTTP 503", 1),
        ("anthropic", Behaviour(mode="status_529"), "http_529", "overloaded_error",
         "Overloaded", 3),
        ("anthropic",
         Behaviour(mode="error_frame", fail_after=0, error_type="invalid_request_error"),
         "stream_error", "invalid_request_error", "loopback: invalid_request_error", 1),
        ("anthropic", Behaviour(mode="error_frame", fail_after=2, error_type="timeout_error"),
         "stream_error", "timeout_error", "loopback: timeout_error", 1),
        ("gemini", Behaviour(mode="raw_error", fail_after=0, error_code=400), "stream_error",
         "400 INVALID_ARGUMENT", "loopback: {raw} model failure", 1),
        ("gemini", Behaviour(mode="raw_error", fail_after=2, error_code=503), "stream_error",
         "503 UNAVAILABLE", "loopback: {raw} model failure", 1),
    ],
)  # fmt: skip
async def test_failures_keep_the_provider_code_and_message(
    tmp_path, server, served, provider, behaviour, code, upstream, message, requests
):
    played = await play(tmp_path, server, served, provider, behaviour)

    assert played.code == code
    assert played.row.upstream_code == upstream
    assert message in (played.row.upstream_message or "")
    assert played.requests == requests
    side = played.states[-1].sides[Side.A]
    assert side.error == code and message not in shown(played)  # the volunteer: a code only
    assert played.row.content == side.text  # what was shown before the failure is kept


@pytest.mark.parametrize(
    ("provider", "behaviour"),
    [
        ("vllm", Behaviour(mode="status_408", fail_times=1)),
        ("vllm", Behaviour(mode="status_409", fail_times=1)),
        ("vllm", Behaviour(mode="status_400", fail_times=1, headers="x-should-retry: true")),
        ("vllm", Behaviour(mode="error_frame", fail_after=0, fail_times=1)),
        ("anthropic", Behaviour(mode="status_529", fail_times=1)),
        ("anthropic", Behaviour(mode="error_frame", fail_after=0, fail_times=1,
                                error_type="timeout_error")),
        ("anthropic",
         Behaviour(mode="status_429", fail_times=1, retry_after="retry-after-ms: 300")),
        ("gemini", Behaviour(mode="raw_error", fail_after=0, fail_times=1, error_code=503)),
        ("gemini", Behaviour(mode="status_503", fail_times=1)),
    ],
)  # fmt: skip
async def test_retryable_failures_before_the_first_token_are_retried_once(
    tmp_path, server, served, provider, behaviour
):
    played = await play(tmp_path, server, served, provider, behaviour)

    assert played.row.error is None and played.row.content == Behaviour().answer()
    assert played.row.upstream_code is None
    assert played.requests == 2


async def test_retry_after_ms_is_honoured(tmp_path, server, served):
    import time

    start = time.monotonic()
    behaviour = Behaviour(mode="status_529", fail_times=1, headers="retry-after-ms: 1200")
    played = await play(tmp_path, server, served, "anthropic", behaviour)
    assert played.row.error is None and played.requests == 2
    assert time.monotonic() - start >= 1.2


# -- what the page says ---------------------------------------------------------------


def test_a_blank_side_is_said_plainly_in_both_languages():
    from arena.ui.i18n import side_error_text

    for code in ("content_filter", "refusal", "reasoning_only", "empty", "tool_calls"):
        ja, en = side_error_text(code, "ja"), side_error_text(code, "en")
        assert ja != en and f"({code})" not in ja + en  # its own sentence, not the generic
    assert "http_500" in side_error_text("http_500", "en")  # others keep the generic line


def test_the_reveal_shows_reasoning_escaped_only_when_given():
    from arena.battles import Reveal
    from arena.ui.battle_tab import reveal_markdown

    base = {"winner": Winner.TIE, "names": {Side.A: "X", Side.B: "Y"},
            "weights": {Side.A: "open", Side.B: "open"},
            "descriptions": {Side.A: "", Side.B: ""}, "counted": True}  # fmt: skip
    assert "reasoning" not in reveal_markdown(Reveal(**base), "en")
    shown = reveal_markdown(Reveal(**base, reasoning={Side.A: "**think** <b>x</b>"}), "en")
    assert "Model A's reasoning:" in shown and "<b>" not in shown and "\\*\\*think" in shown
