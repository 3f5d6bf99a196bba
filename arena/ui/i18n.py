"""Every word the page shows, in Japanese and English.

Static labels go through ``gr.I18n``: Gradio picks the browser's language client-side,
and the page's language switch changes Gradio's locale (see :mod:`arena.ui.page_js`).
Texts made by handlers at run time (messages, the reveal, chart titles, the leaderboard)
go through :func:`t` with the page's ``lang`` state, which follows the same choice.

The texts themselves are kept by area, each in both languages: the battle tab's in
:mod:`arena.ui.i18n_battle`, the leaderboard's in :mod:`arena.ui.i18n_board`, the other
pages' (about, errors, first visit, progress) in :mod:`arena.ui.i18n_pages`; this module
joins them in :data:`TEXT` and looks them up.
"""

from __future__ import annotations

import string

import gradio as gr

from arena.ui.i18n_battle import BATTLE_TEXT
from arena.ui.i18n_board import BOARD_TEXT
from arena.ui.i18n_pages import PAGES_TEXT

LANGS = ("ja", "en")
DEFAULT_LANG = "ja"

# The three prompts of the seed report's examples (its human evaluation section).
EXAMPLE_PROMPTS = (
    "掃除がめんどくさいのですが、どんなモチベーションでやればよいのでしょうか。",
    "テストで95点でもミスがあったと言って親は褒めてくれません。",
    "人生最後の日に何をしたいですか？",
)

#: Prompt categories (code -> examples): a category's button fills one at random, and the
#: battle records ``example:<code>`` as its prompt's source (``typed`` otherwise).
PROMPT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "email": (
        "取引先に納期が一週間遅れることを伝える、丁寧なお詫びのメールを書いてください。",
        "上司に有給休暇を申請するメールを、敬語で簡潔に書いてください。",
        "初めて連絡する大学の先生に、研究室見学をお願いするメールを書いてください。",
    ),
    "explain": (
        "円安になると私たちの生活にどんな影響があるのか、中学生にもわかるように説明して。",
        "大規模言語モデルが文章を作る仕組みを、たとえ話を使って説明してください。",
        "消費税の軽減税率とは何か、具体例を挙げて説明してください。",
    ),
    "advice": (
        "転職するか今の会社に残るかで迷っています。考えるときのポイントを教えてください。",
        "朝どうしても起きられません。生活を立て直すコツはありますか。",
        "友人の結婚式のスピーチを頼まれました。緊張しないための準備を教えてください。",
    ),
    "creative": (
        "「たぬき」と「月」が出てくる短い童話を書いてください。",
        "春の京都を舞台にした俳句を三つ作ってください。",
        "猫が主人公のショートショートを、最後にどんでん返しがある形で書いてください。",
    ),
    "culture": (
        "お盆の由来と、地域による過ごし方の違いを教えてください。",
        "江戸時代の参勤交代が経済に与えた影響を説明してください。",
        "茶道の「一期一会」という考え方について教えてください。",
    ),
    "math": (
        "1から100までの整数のうち、3でも5でも割り切れない数はいくつありますか。考え方も示して。",
        "鶴と亀が合わせて10匹、足の数が合わせて32本です。鶴と亀はそれぞれ何匹ですか。",
        "「すべてのAはBである。あるBはCである。」から「あるAはCである」は言えますか。",
    ),
    "summary": (
        "次の英文を自然な日本語に訳してください：Better late than never.",
        "「桃太郎」のあらすじを三文で要約してください。",
        "「報連相」を英語で説明する短い文章を書いてください。",
    ),
}

#: Every text of the page by key, then language: the battle tab's (arena.ui.i18n_battle),
#: the leaderboard's (arena.ui.i18n_board) and the other pages' (arena.ui.i18n_pages).
TEXT: dict[str, dict[str, str]] = {**BATTLE_TEXT, **BOARD_TEXT, **PAGES_TEXT}


class _Keep(dict):
    """Format mapping that leaves unknown ``{placeholders}`` as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, **params: object) -> str:
    """``text`` with the given placeholders filled and the others left untouched."""
    try:
        return string.Formatter().vformat(text, (), _Keep(params))
    except (ValueError, IndexError):
        return text


def lang_of(value: object) -> str:
    """A supported language code for ``value`` (the default when unknown)."""
    return value if value in LANGS else DEFAULT_LANG  # type: ignore[return-value]


def t(key: str, lang: str, **params: object) -> str:
    """The text for ``key`` in ``lang`` (Japanese when unknown), with ``params`` filled in."""
    entry = TEXT.get(key) or TEXT["err_error"]
    return fill(entry.get(lang) or entry[DEFAULT_LANG], **params)


def side_error_text(code: str, lang: str) -> str:
    """Why a side has no answer to vote on: its own sentence, else the generic one."""
    key = f"side_error_{code}"
    return t(key, lang) if key in TEXT else t("side_error", lang, reason=code)


def error_text(exc: Exception, lang: str) -> str:
    """A volunteer-facing message for an arena error."""
    code = getattr(exc, "code", "error")
    params = dict(getattr(exc, "params", {}))
    key = f"err_{code}"
    if key not in TEXT:
        key, params = "err_error", {"message": str(exc)}
    return t(key, lang, **{"message": str(exc), **params})


def warn(message: str, lang: str) -> None:
    """A warning toast titled in ``lang`` (Gradio's own title is the English "Warning")."""
    gr.Warning(message, title=t("toast_warning", lang))


def gr_i18n(**params: object) -> gr.I18n:
    """The static labels for Gradio's client-side translation.

    ``params`` fill placeholders known when the page is built (the turn and length
    limits), so those texts follow the page's language like any other label.
    """
    return gr.I18n(
        **{lang: {k: fill(v[lang], **params) for k, v in TEXT.items()} for lang in LANGS}
    )
