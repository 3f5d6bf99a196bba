"""A model naming itself at an answer's edges: a speaker label or byline, a signature.

Besides phrases inside a sentence (:mod:`arena.integrity.identity_rules`), an answer can
name its writer by its shape: "**Claude:** Sure, ..." or "By Gemini" on the first line,
"— ChatGPT", "Best regards,\\nClaude" or 「Gemini より」 on the last. These two tests read
only the first or last lines, so they live apart from the detector's phrase search.
``names_re`` matches a normalised name at a position and ``names`` says what it stands
for (both built by :class:`arena.integrity.identity.IdentityDetector`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from arena.integrity import identity_context as around
from arena.integrity import identity_names as w
from arena.integrity.identity_names import Name
from arena.integrity.identity_text import normalise


def header(
    answer: str, names_re: re.Pattern[str], names: Mapping[str, Name]
) -> tuple[str, str, str] | None:
    """A speaker label or byline opening the answer ("**Claude:** Sure", "By Gemini")."""
    lines = [x.strip() for x in answer.strip().splitlines() if x.strip()]
    if len(lines) < 2:
        return None
    first = normalise(lines[0]).lstrip("*_[<(# ")
    byline = around.BYLINE.match(first)
    nm = names_re.match(first, byline.end() if byline else 0)
    if nm is None:
        return None
    name = names[nm.group()]
    rest = first[w.TAIL_RE.match(first, nm.end()).end() :]
    if byline:
        if not re.fullmatch(r"[*_)\]>]{0,2}[.!]?", rest.strip()):
            return None
    elif (
        not (label := around.HEADER_LABEL.match(rest))
        or not around.REPLY_START.match(rest, label.end())
        or any(names_re.match(normalise(x).lstrip("*_[<( -")) for x in lines[1:])
    ):
        return None  # "ChatGPT: …\nClaude: …" is a list, not a speaker
    raw = lines[0].lstrip("*_[<(# ")
    if name.ordinary and not raw[len(raw) - len(raw.lstrip()) :][:1].isupper():
        return None
    return lines[0], first, name.key


def signature(
    answer: str, names_re: re.Pattern[str], names: Mapping[str, Name]
) -> tuple[str, str, str] | None:
    """A signature or footer on the answer's last line: (line, its name, the key)."""
    lines = [x.strip() for x in answer.strip().splitlines() if x.strip()]
    if not lines:
        return None
    last, prev = lines[-1], (lines[-2] if len(lines) > 1 else "")
    values: list[tuple[str, str]] = []  # (text opening with the name, what may follow it)
    dash = around.SIG_DASH.match(last)
    if dash and prev and not (last[:1] in "-*•・~〜ー" and around.BULLET.match(prev)):
        values.append((dash.group("rest"), around.SIG_END))
    elif inline := around.SIG_INLINE.search(last):
        values.append((inline.group("rest"), around.SIG_END))
    if prev:
        if around.CLOSING.match(normalise(prev).strip()):
            values.append((last, around.SIG_END))
        values.append((last, around.SIG_LETTER))  # 「Gemini より」
        if not around.BULLET.match(last) and not names_re.match(normalise(prev).lstrip("*_[<( ")):
            values.append((last, around.SIG_PAREN))  # "Claude (Anthropic)", not in a list
        plain = normalise(last).strip().strip("*_[] ").lstrip("(")
        footer = around.FOOTER.match(plain)
        if footer:
            values.append((plain[footer.end() :], around.SIG_END))
    for text, ending in values:
        value = normalise(text).strip().strip("*_[] ").lstrip("(").strip()
        if prefix := around.SIG_PREFIX.match(value):
            value = value[prefix.end() :]  # "— your assistant, Gemini"
        nm = names_re.match(value)
        if nm is None:
            continue
        rest = re.fullmatch(ending, value[w.TAIL_RE.match(value, nm.end()).end() :].strip())
        if rest and (ending != around.SIG_PAREN or names_re.match(rest["inner"].strip())):
            return last, value, names[nm.group()].key
    return None
