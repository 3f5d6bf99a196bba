"""The one path from a prompt or a model's answer to the HTML the chat panes show.

Escaping "HTML outside code" with a regex does not work: Markdown decides what is code,
and an unclosed fence in mid-line or an escaped backtick let raw tags through (a live
phishing form in a pane, issue 11). So the text is parsed here, on the server, by
cmark-gfm (GitHub's CommonMark parser, in C: cmarkgfm) in its safe mode, and the HTML it
makes is cleaned by nh3 with a short allow-list. The browser's sanitiser is a second
layer, never the guarantee.

No ``<`` reaches the parser, except in ``<http://…>`` autolinks: each is swapped for a
private-use character and written back as ``&lt;`` after cleaning. So raw HTML cannot
even start (cmark's safe mode would drop it, and the reader would not see what the model
wrote); ``<form>`` in an answer is shown as the text ``<form>``, in code or not.

What the output can hold: paragraphs, line breaks, headings, emphasis, strikethrough,
code (its content as text), block quotes, lists, tables, rules and links to http(s) or
mailto (a new tab, no referrer). Never images (a remote image would load and tell its
host who reads the answer: a Markdown image is shown as its source text), forms, frames,
SVG, styles, scripts or event attributes.

Math: ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` are kept verbatim as text
(Markdown would eat their backslashes and asterisks) for KaTeX in the browser. Gradio
runs KaTeX without ``trust``: ``\\href`` and ``\\url`` show as error text, never links.

The output is written for ``gr.Chatbot(render_markdown=False)``, which inserts a
message's string as HTML (see :func:`arena.ui.battle_tab.chat_pane`): one line, without
newline or tab characters (in code they are character references), because Gradio
passes the string through ``inspect.cleandoc`` and shows it with ``white-space: pre-line``.
markdown-it-py would do as the parser but takes 10-15 ms for a 4,000-character answer
here, and this runs on every streamed update; cmark-gfm takes well under 1 ms.
"""

from __future__ import annotations

import bisect
import functools
import html
import re

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
ALIGNS = frozenset({"left", "center", "right"})
TAGS = frozenset(
    {"p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td"}
)
MATH_DELIMITERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)", "$": "$"}
MAX_MATH_CHARS = 4000
MAX_OPENED = 32  # quotes and list items one line may open; further markers are text

_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags={"script", "style"},
    attributes={"*": set(), "a": {"href"}, "ol": {"start"}},  # "*": not even title, lang
    tag_attribute_values={"th": {"align": set(ALIGNS)}, "td": {"align": set(ALIGNS)}},
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(LINK_SCHEMES),
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)
_OPTIONS = Options.CMARK_OPT_HARDBREAKS | Options.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
_EXTENSIONS = ["table", "strikethrough"]

# Private-use characters standing in for math (U+E000 n U+E001) and for "<" (U+E002),
# and one that stops a line opening more quotes or lists (U+E003, removed at the end).
_MATH_OPEN, _MATH_CLOSE, _LT, _STOP = "\ue000", "\ue001", "\ue002", "\ue003"
_UNWANTED = re.compile("[\ud800-\udfff\ue000-\ue003]")  # lone surrogates, our markers
_LT_NOT_AUTOLINK = re.compile(r"<(?!(?:https?|mailto):[^\s<>]*>)", re.IGNORECASE)
_MATH_OPENER = re.compile(r"\$\$|\\\[|\\\(|\$")
_MATH_MARK = re.compile(f"{_MATH_OPEN}(\\d+){_MATH_CLOSE}")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# A line opening many quotes or list items at once: the cheap way to nest deeply, and the
# cleaner's time grows with the square of the nesting (">" * 32000 would take seconds).
_MARKER = r"(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]))"
_DEEP = re.compile(f"^((?:[ \t]*{_MARKER}){{{MAX_OPENED}}}[ \t]*)(?={_MARKER})", re.MULTILINE)
_PRE = re.compile(r"(<pre><code[^>]*>.*?</code></pre>)", re.DOTALL)
_IMG = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="[^"]*")? />')
# A link whose address the cleaner dropped (javascript:, relative...) is just its text.
_DEAD_LINK = re.compile(f'<a target="_blank" rel="{LINK_REL}">(.*?)</a>', re.DOTALL)


class _Math:
    """Finds the formulas of a text and stands a marker in for each.

    A formula has no backtick (so it never swallows code) and no blank line; ``$…$``
    stays on one line, opens before a non-space and closes after one, not before a
    digit (Pandoc's rule: "$5 and $10" is no formula). Scans are remembered, so a run
    of unclosed openers costs one scan each kind, not one each.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.sources: list[str] = []
        self.ticks = [m.start() for m in re.finditer("`", text)]
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.blanks = [m.start() for m in _BLANK_LINE.finditer(text)]
        self.found: dict[str, tuple[int, int]] = {}  # closer -> (searched from, found at)

    @staticmethod
    def _any(positions: list[int], start: int, end: int) -> bool:
        k = bisect.bisect_left(positions, start)
        return k < len(positions) and positions[k] < end

    def _closer(self, closer: str, start: int) -> int:
        since, at = self.found.get(closer, (len(self.text) + 1, -1))
        if not since <= start <= (at if at >= 0 else len(self.text)):
            at = self.text.find(closer, start)
            self.found[closer] = (start, at)
        return at

    def _formula(self, opener: str, start: int) -> int:
        """Where the formula opened at ``start`` ends, or -1."""
        text, body = self.text, start + len(opener)
        end = self._closer(MATH_DELIMITERS[opener], body)
        if end < 0 or end - body > MAX_MATH_CHARS or not text[body:end].strip():
            return -1
        if self._any(self.ticks, body, end):
            return -1
        if opener == "$":
            if self._any(self.newlines, body, end) or text[body].isspace():
                return -1
            last, after = text[end - 1], text[end + 1 : end + 2]
            if last.isspace() or last == "\\" or after.isdigit():
                return -1
        elif self._any(self.blanks, body, end):
            return -1
        return end + len(MATH_DELIMITERS[opener])

    def protect(self) -> str:
        text, out, copied, pos = self.text, [], 0, 0
        while (m := _MATH_OPENER.search(text, pos)) is not None:
            start, opener = m.start(), m.group()
            pos = m.end()
            before = start
            while before and text[before - 1] == "\\":
                before -= 1
            if (start - before) % 2:
                continue  # an escaped opener
            end = self._formula(opener, start)
            if end < 0:
                continue
            out += [text[copied:start], f"{_MATH_OPEN}{len(self.sources)}{_MATH_CLOSE}"]
            self.sources.append(text[start:end])
            copied = pos = end
        return "".join(out) + text[copied:]

    def restore(self, html_text: str) -> str:
        return _MATH_MARK.sub(lambda m: html.escape(self.sources[int(m.group(1))]), html_text)


def _one_line(cmark_html: str) -> str:
    """Newlines outside code only separate blocks or follow ``<br />``: dropped."""
    parts = _PRE.split(cmark_html)
    return "".join(p if i % 2 else p.replace("\n", "") for i, p in enumerate(parts))


@functools.lru_cache(maxsize=256)
def render(text: str) -> str:
    """Safe HTML for a prompt or an answer written in Markdown.

    Pure (so cached: while an answer streams, the earlier turns are not parsed again),
    one line, and safe whatever ``text`` holds.
    """
    text = _UNWANTED.sub("\ufffd", text)
    math = _Math(text) if ("$" in text or "\\(" in text or "\\[" in text) else None
    source = math.protect() if math else text
    source = _DEEP.sub(f"\\1{_STOP}", _LT_NOT_AUTOLINK.sub(_LT, source))
    out = cmarkgfm.markdown_to_html_with_extensions(source, _OPTIONS, _EXTENSIONS)
    out = _IMG.sub(r"![\2](\1)", _one_line(out))  # attribute values come escaped
    out = _DEAD_LINK.sub(r"\1", _CLEANER.clean(out)).replace(_LT, "&lt;").replace(_STOP, "")
    if math:
        out = math.restore(out)
    return out.replace("\n", "&#10;").replace("\t", "&#9;")


_MD_LITERAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]!~|$#"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
)


def literal(text: str) -> str:
    """``text`` as Markdown source that renders as exactly that text, on one line.

    For short strings from the configuration (model names, descriptions) put inside a
    line of Markdown, such as the reveal: inline markup is escaped, newlines become spaces.
    """
    return " ".join(text.split()).translate(_MD_LITERAL)
