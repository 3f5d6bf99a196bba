"""Failures on the battle tab in plain words, each with a way forward.

Whatever went wrong (a side that errored, stalled or was cut off, a lost connection, a
refused prompt, a database that is down), the volunteer reads what happened in everyday
words and what to do next: retry the side, or end this battle and start another. A
side's stored error code (``timeout``, ``http_503``, a provider's own word) and an
exception's text never reach the page: codes only choose a sentence.
"""

from __future__ import annotations

from arena.ui.i18n import TEXT, error_text, t

#: Side error codes by what the volunteer is told (others: "could not answer").
STALLED = frozenset({"timeout", "first_token_timeout", "reasoning_timeout"})
CUT = frozenset({"truncated", "stream_error", "protocol", "finish_error", "cancelled"})
UNREACHABLE = frozenset({"connection", "saturated", "no_api_key", "model_unavailable"})

#: Battle-level codes whose own sentence already says what to do.
SELF_EXPLAINED = frozenset({"prompt_empty", "prompt_invalid", "prompt_too_long", "rate_limited"})


def side_failure_text(code: str, lang: str, *, partial: bool = False) -> str:
    """Why a side has no answer to vote on, and what the volunteer can do.

    ``partial``: some of the answer was shown, so a lost connection reads as an answer
    that broke off (not as a model that cannot be reached).
    """
    own = f"side_error_{code}"
    if own in TEXT:  # a blank answer: its own sentence (it names the retry button)
        return f"{t(own, lang)} {t('fail_battle_way', lang)}"
    if code in STALLED:
        what = "fail_stalled"
    elif code in CUT or partial:
        what = "fail_cut"
    elif code in UNREACHABLE or code.startswith("http_"):
        what = "fail_unreachable"
    else:
        what = "fail_side"
    return f"{t(what, lang)} {t('fail_way', lang)}"


def failure_text(exc: Exception, lang: str, *, started: bool = False) -> str:
    """A refused or failed action in plain words; ``started``: a battle is under way, so
    ending it is offered. Unknown codes get the general sentence, never the exception."""
    code = getattr(exc, "code", "")
    if not isinstance(code, str) or code == "error" or f"err_{code}" not in TEXT:
        return t("fail_generic", lang)
    text = error_text(exc, lang)
    if started and code not in SELF_EXPLAINED:
        text = f"{text} {t('fail_battle_way', lang)}"
    return text
