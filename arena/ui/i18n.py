"""Every word the page shows, in Japanese and English.

Static labels go through ``gr.I18n`` (the browser's language picks them); messages
made by handlers at run time go through :func:`t` with the page's language state.
"""

from __future__ import annotations

import gradio as gr

LANGS = ("ja", "en")

TEXT: dict[str, dict[str, str]] = {
    "title": {"ja": "Tanuki Arena ⚔️ ブラインド評価", "en": "Tanuki Arena ⚔️ blind evaluation"},
    "intro": {
        "ja": "質問を入力すると、ランダムに選ばれた2つのモデルが匿名で答えます。"
        "良い方に投票すると、モデル名が表示されます。",
        "en": "Type a prompt: two models drawn at random answer anonymously. "
        "Vote for the better answer; then their names are revealed.",
    },
    "rules": {
        "ja": "ルール: 個人情報を入力しないでください。"
        "モデルが自分の名前を名乗った対戦は集計に含めません。"
        "投票前なら何ターンでも続けられます（上限あり）。",
        "en": "Rules: do not enter personal information. A battle where a model names itself "
        "does not count. You may chat for several turns before voting (within the limit).",
    },
    "demo_banner": {
        "ja": "⚠️ デモモード: 実際のLLMではなく、オフラインのデモ用モデルが応答しています。",
        "en": "⚠️ Demo mode: offline demo models answer, not real LLMs.",
    },
    "tab_arena": {"ja": "⚔️ アリーナ（ブラインド）", "en": "⚔️ Arena (blind)"},
    "model_a": {"ja": "モデルA", "en": "Model A"},
    "model_b": {"ja": "モデルB", "en": "Model B"},
    "prompt_label": {"ja": "質問・指示", "en": "Your prompt"},
    "prompt_placeholder": {
        "ja": "ここに入力して Enter（改行は Shift+Enter）",
        "en": "Type here and press Enter (Shift+Enter for a new line)",
    },
    "send": {"ja": "送信", "en": "Send"},
    "vote_a": {"ja": "👈 Aの方が良い", "en": "👈 A is better"},
    "vote_b": {"ja": "👉 Bの方が良い", "en": "👉 B is better"},
    "vote_tie": {"ja": "🤝 引き分け", "en": "🤝 Tie"},
    "vote_bothbad": {"ja": "👎 どちらも悪い", "en": "👎 Both are bad"},
    "new_round": {"ja": "🎲 新しい対戦", "en": "🎲 New round"},
    "retry": {"ja": "🔁 失敗した側を再試行", "en": "🔁 Retry the failed side"},
    "limits": {
        "ja": "1対戦あたり最大 {turns} ターン、1回の入力は最大 {chars} 文字です。",
        "en": "Up to {turns} turns per battle and {chars} characters per prompt.",
    },
    "reveal_line": {"ja": "{side}：{name}", "en": "{side}: {name}"},
    "thanks": {"ja": "投票ありがとうございました！", "en": "Thank you for voting!"},
    "not_counted": {
        "ja": "この対戦はモデルが名乗ったため集計に含まれません。",
        "en": "This battle will not count: a model named itself.",
    },
    "side_error": {
        "ja": "⚠️ このモデルは応答できませんでした（{reason}）。再試行できます。",
        "en": "⚠️ This model could not answer ({reason}). You can retry.",
    },
    "err_prompt_empty": {"ja": "入力が空です。", "en": "The prompt is empty."},
    "err_prompt_invalid": {
        "ja": "入力に使えない文字が含まれています。",
        "en": "The prompt contains characters that cannot be used.",
    },
    "err_prompt_too_long": {
        "ja": "入力が長すぎます（{length} 文字、上限 {limit} 文字）。",
        "en": "The prompt is too long ({length} characters; the limit is {limit}).",
    },
    "err_turn_limit": {
        "ja": "ターン数の上限（{limit}）に達しました。投票してください。",
        "en": "Turn limit ({limit}) reached. Please vote.",
    },
    "err_no_models": {
        "ja": "現在対戦できるモデルが足りません。しばらくしてからお試しください。",
        "en": "Not enough models are available right now. Please try again later.",
    },
    "err_storage": {
        "ja": "データベースに接続できません。入力は残してあります。少し待って再送信してください。",
        "en": "The database is unavailable. Your prompt is kept; please send it again shortly.",
    },
    "err_vote_repeat": {
        "ja": "この対戦にはすでに投票済みです。",
        "en": "This battle already has a vote.",
    },
    "err_vote_not_ready": {
        "ja": "両方の回答が正常に終わってから投票してください。",
        "en": "Both answers must finish without error before voting.",
    },
    "err_unknown_battle": {"ja": "対戦が見つかりません。", "en": "Unknown battle."},
    "err_battle_busy": {
        "ja": "この対戦は応答中か終了しています。新しい対戦を始めてください。",
        "en": "This battle is busy or over. Please start a new round.",
    },
    "err_error": {"ja": "エラーが発生しました: {message}", "en": "Something went wrong: {message}"},
}


def t(key: str, lang: str, **params: object) -> str:
    """The text for ``key`` in ``lang`` (Japanese when unknown), with ``params`` filled in."""
    entry = TEXT.get(key) or TEXT["err_error"]
    text = entry.get(lang) or entry["ja"]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def error_text(exc: Exception, lang: str) -> str:
    """A volunteer-facing message for an arena error."""
    code = getattr(exc, "code", "error")
    params = dict(getattr(exc, "params", {}))
    key = f"err_{code}"
    if key not in TEXT:
        key, params = "err_error", {"message": str(exc)}
    return t(key, lang, **params, message=str(exc))


def gr_i18n() -> gr.I18n:
    """The static labels for Gradio's client-side translation."""
    return gr.I18n(**{lang: {k: v[lang] for k, v in TEXT.items()} for lang in LANGS})
