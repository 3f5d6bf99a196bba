"""arena.render: every payload of the injection corpus comes out as inert HTML, and the
Markdown volunteers expect (code, lists, tables, emphasis, math) still renders.

The output is parsed with ``html.parser`` and checked element by element against an
allow-list, never with substring greps: ``&lt;form`` in the text is fine, a ``form``
element is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from arena.render import LINK_REL, TAGS, literal, render

CORPUS = json.loads((Path(__file__).parent / "data" / "injection_corpus.json").read_text("utf-8"))
FORBIDDEN = {
    "form", "input", "button", "textarea", "select", "option", "iframe", "frame", "script",
    "style", "object", "embed", "svg", "math", "img", "image", "meta", "base", "link",
    "video", "audio", "source", "picture", "noscript", "template", "details", "dialog", "body",
}  # fmt: skip
SCHEMES = ("http://", "https://", "mailto:")
ATTRIBUTES = {"a": {"href", "target", "rel"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]


class Parsed(HTMLParser):
    """The elements and the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def tags(self) -> set[str]:
        return {e.tag for e in self.elements}

    @property
    def visible(self) -> str:
        return "".join(self.text)


def parse(html_text: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(html_text)
    parsed.close()
    return parsed


def problems(html_text: str) -> list[str]:
    """Everything in the output that a model's text must never produce."""
    found = []
    for el in parse(html_text).elements:
        if el.tag in FORBIDDEN or el.tag not in TAGS:
            found.append(f"element <{el.tag}>")
        for name, value in el.attrs.items():
            if name.startswith("on") or name in ("style", "src", "srcset", "class", "id"):
                found.append(f"attribute {name} on <{el.tag}>")
            elif name not in ATTRIBUTES.get(el.tag, ()):
                found.append(f"unexpected attribute {name} on <{el.tag}>")
            if name == "href" and not (value or "").lower().startswith(SCHEMES):
                found.append(f"href {value!r}")
    return found


@pytest.mark.parametrize("payload", CORPUS, ids=[p["name"] for p in CORPUS])
def test_payload_renders_inert(payload: dict[str, str]) -> None:
    out = render(payload["text"])
    assert problems(out) == []
    assert "\n" not in out and "\t" not in out  # one line: Gradio's cleandoc is a no-op
    assert not any("\ue000" <= c <= "\ue002" for c in out)  # the renderer's own markers
    for el in parse(out).elements:
        if el.tag == "a":
            assert el.attrs.get("rel") == LINK_REL and el.attrs.get("target") == "_blank"


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 50
    assert len({p["name"] for p in CORPUS}) == len(CORPUS)


def test_the_phishing_form_of_issue_11_shows_as_text() -> None:
    text = CORPUS[0]["text"]
    parsed = parse(render(text))
    assert parsed.tags == {"p"}
    assert '<form action="http://evil.example/p">' in parsed.visible
    assert "<button>Log in</button>" in parsed.visible


@pytest.mark.parametrize(
    "text, shown",
    [
        ("&lt;form&gt;", "<form>"),
        ("&#60;script&#62;", "<script>"),
        ('<div style="position:fixed">x</div>', '<div style="position:fixed">x</div>'),
        ("a < b and c<d", "a < b and c<d"),
        ("[x](javascript:alert(1))", "x"),
        ("![logo](http://evil.example/p.png)", "![logo](http://evil.example/p.png)"),
        ("$\\href{javascript:alert(1)}{x}$", "$\\href{javascript:alert(1)}{x}$"),
        ("\ue0000\ue001 \ue002b>", "\ufffd0\ufffd \ufffdb>"),
    ],
)
def test_markup_in_the_text_is_shown_not_run(text: str, shown: str) -> None:
    parsed = parse(render(text))
    assert parsed.tags <= {"p"}
    assert parsed.visible == shown


def test_code_blocks_and_inline_code_keep_their_text() -> None:
    out = render("Use `a<b` here:\n\n```python\nif x < 3:\n\tprint('<b>')\n\n```\n")
    parsed = parse(out)
    assert "<pre><code>" in out and parsed.tags == {"p", "code", "pre"}
    assert "a<b" in parsed.visible
    assert "if x < 3:\n\tprint('<b>')\n" in parsed.visible  # newline and tab as references


def test_markdown_still_renders() -> None:
    text = (
        "# 見出し\n\n**太字**と*斜体*と~~取り消し~~、`code`。\n改行も。\n\n"
        "- りんご\n- みかん\n\n1. 一\n2. 二\n\n> 引用\n\n"
        "| 名前 | 値 |\n|:---|---:|\n| a | 1 |\n\n---\n\n[公式](https://example.com/a?b=1)"
    )
    out = render(text)
    parsed = parse(out)
    expected = {"h1", "p", "strong", "em", "del", "code", "br", "ul", "ol", "li", "blockquote"}
    assert expected | {"table", "thead", "tbody", "tr", "th", "td", "hr", "a"} <= parsed.tags
    assert problems(out) == []
    assert "太字" in parsed.visible and "取り消し" in parsed.visible
    assert '<td align="right">1</td>' in out
    link = next(e for e in parsed.elements if e.tag == "a")
    assert link.attrs == {"href": "https://example.com/a?b=1", "target": "_blank", "rel": LINK_REL}


@pytest.mark.parametrize(
    "text",
    [
        "$E=mc^2$",
        "$$x^*_1 + y^*_2 \\\\ \\frac{a}{b}$$",
        "\\(a_1 * b_1 * c\\)",
        "\\[\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}\\]",
        "$$\n\\sum_{i=1}^n i\n- 1\n$$",
    ],
)
def test_math_source_is_kept_verbatim(text: str) -> None:
    out = render(f"式: {text} です")
    parsed = parse(out)
    assert text in parsed.visible
    assert parsed.tags <= {"p", "br"}


def test_code_is_never_altered() -> None:
    code = "x = 1\t# <b>$a$</b> \\( y \\)\n" + ">" * 40 + "\n" + "- " * 40 + "\n"
    parsed = parse(render(f"```\n{code}```"))
    assert parsed.tags == {"pre", "code"} and parsed.visible == code


def test_dollar_amounts_are_not_math() -> None:
    parsed = parse(render("It costs $5 and *only* $10."))
    assert parsed.visible == "It costs $5 and only $10." and "em" in parsed.tags


def test_japanese_text_and_empty_input() -> None:
    assert render("たぬきは日本の動物です。") == "<p>たぬきは日本の動物です。</p>"
    assert render("") == ""


def test_literal_escapes_markdown_and_html() -> None:
    assert literal("Tanuki-8B-dpo-v1.0") == "Tanuki-8B-dpo-v1.0"
    assert literal("<GPT>") == "&lt;GPT&gt;"
    assert literal("a*b_c [x](y) `z`\nnext") == "a\\*b\\_c \\[x\\](y) \\`z\\` next"


def test_chat_messages_render_html_with_error_line_and_ellipsis() -> None:
    from arena.db.models import Side
    from arena.ui.battle_tab import Page, chat_messages

    page = Page(
        turns=[
            {"prompt": "<b>hi</b>", "a": "**ok**", "b": "", "err_a": None, "err_b": None},
            {"prompt": "q", "a": "part ```<form>", "b": "", "err_a": "timeout: x", "err_b": None},
        ]
    )
    a = chat_messages(page, Side.A, "en")
    assert a[0]["content"] == '<div class="prose"><p>&lt;b&gt;hi&lt;/b&gt;</p></div>'
    assert [m["role"] for m in a] == ["user", "assistant"] * 2
    assert a[1]["content"] == '<div class="prose"><p><strong>ok</strong></p></div>'
    last = a[3]["content"].removeprefix('<div class="prose">').removesuffix("</div>")
    assert last.startswith("<p>part ```&lt;form&gt;</p>")
    assert "did not finish answering in time" in last
    assert problems(last) == []
    assert [m["content"] for m in chat_messages(page, Side.B, "en")][1::2] == ["…", "…"]


# -- speed: called on every streamed update ---------------------------------------------

SAMPLE = (
    "これは**テスト**です。Markdown の `code` と [リンク](https://example.com) を含む文章、"
    "式 $x^2$ と値段 $5。\n"
    * 3
    + "\n```python\ndef f(x):\n    return x < 3 and x > 1\n```\n\n"
    + "| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two $E=mc^2$\n\n"
)
