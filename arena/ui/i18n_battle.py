"""The battle tab's words, ja and en: the page's top, the battle tab, the reveal's cards,
plain failures, the share image, the reasons step, the statuses and direct chat.

Part of the page's one table of texts, :data:`arena.ui.i18n.TEXT` (looked up with
:func:`arena.ui.i18n.t`); apart so that each area's words can be read and changed
together. Every entry has both languages.
"""

from __future__ import annotations

BATTLE_TEXT: dict[str, dict[str, str]] = {
    # -- page -------------------------------------------------------------------------
    "title": {"ja": "# Tanuki Arena ― 日本語LLMのブラインド評価", "en": "# Tanuki Arena"},
    "subtitle": {
        "ja": "2つの匿名モデルの回答を比べて、良い方に投票してください。",
        "en": "Compare two anonymous models' answers and vote for the better one.",
    },
    "lang_label": {"ja": "表示言語 / Language", "en": "Language / 表示言語"},
    "demo_banner": {
        "ja": "デモモード：実際のLLMではなく、オフラインのデモ用モデルが応答しています。",
        "en": "Demo mode: offline demo models answer, not real LLMs.",
    },
    "join_intro": {
        "ja": "この評価は招待制です。受け取った参加コードを入力してください。",
        "en": "This evaluation is by invitation. Please enter the access code you received.",
    },
    "access_code_label": {"ja": "参加コード", "en": "Access code"},
    "join": {"ja": "参加する", "en": "Join"},
    "tab_arena": {"ja": "アリーナ（ブラインド）", "en": "Arena (blind)"},
    "tab_named": {"ja": "モデルを選んで比較", "en": "Side by side (named)"},
    "tab_chat": {"ja": "1対1チャット", "en": "Direct chat"},
    "tab_leaderboard": {"ja": "リーダーボード", "en": "Leaderboard"},
    "tab_about": {"ja": "このサイトについて", "en": "About"},
    # -- battle tab ---------------------------------------------------------------------
    "rules": {
        "ja": "**ルール**：個人情報（氏名・連絡先など）は入力しないでください。"
        "モデルが自分の名前を名乗った対戦は集計に含めません。",
        "en": "**Rules**: do not enter personal information (names, contact details...). "
        "A battle where a model names itself does not count.",
    },
    "limits": {
        "ja": "1対戦あたり最大 {turns} ターン、1回の入力は最大 {chars} 文字です。",
        "en": "Up to {turns} turns per battle and {chars} characters per prompt.",
    },
    "named_intro": {
        "ja": "比較したい2つのモデルを選んでください。この対戦はモデル名が見えているため、"
        "レーティングには含めません（記録はされます）。",
        "en": "Choose the two models to compare. Because their names are shown, these "
        "votes are stored but left out of the ratings.",
    },
    "model_a": {"ja": "モデルA", "en": "Model A"},
    "model_b": {"ja": "モデルB", "en": "Model B"},
    "pick_model": {"ja": "モデル", "en": "Model"},
    "prompt_label": {"ja": "質問・指示", "en": "Your prompt"},
    "prompt_placeholder": {
        "ja": "ここに入力して Enter で送信（改行は Shift+Enter）",
        "en": "Type here and press Enter to send (Shift+Enter for a new line)",
    },
    "examples": {"ja": "入力例（クリックで入力欄へ）", "en": "Examples (click to use)"},
    "send": {"ja": "送信", "en": "Send"},
    "vote_a": {"ja": "Aの方が良い", "en": "A is better"},
    "vote_b": {"ja": "Bの方が良い", "en": "B is better"},
    "vote_tie": {"ja": "引き分け", "en": "Tie"},
    "vote_bothbad": {"ja": "どちらも悪い", "en": "Both are bad"},
    "regenerate": {"ja": "両方を再生成", "en": "Regenerate both"},
    "new_round": {"ja": "新しい対戦", "en": "New round"},
    "next_battle": {"ja": "次の対戦へ", "en": "Next battle"},
    # -- the reveal's model cards, the phone view, plain failures, the share image (H3) --
    "card_developer": {"ja": "開発：{value}", "en": "Made by: {value}"},
    "card_size": {"ja": "規模：{value}", "en": "Size: {value}"},
    "card_weights_open": {
        "ja": "重みが公開されたモデル（誰でもダウンロードして使えます）",
        "en": "Open-weight model (anyone can download and run it)",
    },
    "card_weights_closed": {
        "ja": "公開されていないモデル（API経由でのみ利用）",
        "en": "Closed model (used only through its maker's API)",
    },
    "card_time": {"ja": "この対戦の回答時間：{s} 秒", "en": "Answer time in this battle: {s} s"},
    "card_time_first": {
        "ja": "この対戦の回答時間：{s} 秒（書き始めまで {first} 秒）",
        "en": "Answer time in this battle: {s} s (first words after {first} s)",
    },
    "card_length": {"ja": "回答の長さ：{n} 文字", "en": "Answer length: {n} characters"},
    "card_turns": {"ja": "（{n} ターンの合計）", "en": "(total of {n} turns)"},
    "share_button": {"ja": "結果をシェア", "en": "Share result"},
    "share_with_prompt": {
        "ja": "質問と回答の冒頭も画像に入れる",
        "en": "Include my prompt and the answers' opening lines",
    },
    "share_title": {"ja": "Tanuki Arena の対戦結果", "en": "Tanuki Arena result"},
    "share_prompt_label": {"ja": "質問：", "en": "Prompt: "},
    "share_saved": {
        "ja": "画像を作りました（下に表示し、保存しました）。",
        "en": "The image is ready (shown below, and downloaded).",
    },
    "end_battle": {"ja": "この対戦を終えて次へ", "en": "End this battle, start another"},
    "fail_way": {
        "ja": "「再試行」で答え直させるか、「この対戦を終えて次へ」で別の対戦を始めてください。",
        "en": "Use “Retry” to ask it again, or “End this battle, start another”.",
    },
    "fail_stalled": {
        "ja": "このモデルは時間内に答え終わりませんでした。",
        "en": "This model did not finish answering in time.",
    },
    "fail_cut": {
        "ja": "このモデルの回答は途中で途切れました。",
        "en": "This model's answer broke off midway.",
    },
    "fail_unreachable": {
        "ja": "このモデルには今つながりません（混み合っているか、止まっています）。",
        "en": "This model cannot be reached right now (busy or down).",
    },
    "fail_side": {
        "ja": "このモデルは回答できませんでした。",
        "en": "This model could not answer.",
    },
    "status_failed_way": {
        "ja": "応答できなかったモデルがあります。「再試行」するか、"
        "「この対戦を終えて次へ」で別の対戦を始めてください。",
        "en": "A model could not answer. Retry it, or use “End this battle, start another”.",
    },
    "fail_generic": {
        "ja": "うまくいきませんでした。もう一度お試しいただくか、"
        "「この対戦を終えて次へ」で別の対戦を始めてください。",
        "en": "That did not work. Please try again, or use “End this battle, start another”.",
    },
    "fail_battle_way": {
        "ja": "「この対戦を終えて次へ」で別の対戦を始められます。",
        "en": "“End this battle, start another” starts a fresh one.",
    },
    # -- the reasons step, after the vote and before the reveal ------------------------
    "reasons_intro": {
        "ja": "投票を記録しました。よろしければ理由を教えてください（任意）。"
        "モデル名はこのあと表示されます。",
        "en": "Your vote is recorded. If you like, tell us why (optional). "
        "The names are shown next.",
    },
    "reasons_a": {"ja": "モデルAの回答について", "en": "About model A's answer"},
    "reasons_b": {"ja": "モデルBの回答について", "en": "About model B's answer"},
    "reasons_comment": {
        "ja": "ひとことコメント（任意・公開されます）",
        "en": "A comment (optional; it will be published)",
    },
    "reasons_send": {"ja": "理由を送って名前を見る", "en": "Send and show the names"},
    "reasons_skip": {"ja": "スキップして名前を見る", "en": "Skip and show the names"},
    "tag_useful": {"ja": "役に立つ", "en": "Useful"},
    "tag_complete": {"ja": "網羅的", "en": "Complete"},
    "tag_creative": {"ja": "創造的", "en": "Creative"},
    "tag_clear_format": {"ja": "読みやすい形式", "en": "Clear formatting"},
    "tag_natural_japanese": {"ja": "自然な日本語", "en": "Natural Japanese"},
    "tag_register_fits": {"ja": "敬語・文体が場面に合う", "en": "Politeness and style fit"},
    "tag_incorrect": {"ja": "誤りがある", "en": "Incorrect"},
    "tag_superficial": {"ja": "浅い・表面的", "en": "Superficial"},
    "tag_ignores_instructions": {"ja": "指示に従っていない", "en": "Instructions not followed"},
    "tag_unnatural_japanese": {"ja": "翻訳調・不自然", "en": "Translated or unnatural Japanese"},
    "tag_register_off": {"ja": "敬語・文体が合わない", "en": "Politeness or style off"},
    "tag_mixed_languages": {"ja": "英語や中国語が混ざる", "en": "English or Chinese mixed in"},
    "tag_wrong_japan_facts": {"ja": "日本の事実の誤り", "en": "Wrong facts about Japan"},
    "tag_format_limits": {
        "ja": "文字数・形式の指示を守らない",
        "en": "Length or format instructions not kept",
    },
    "reasons_tab": {"ja": "投票の理由", "en": "Reasons for votes"},
    "categories": {
        "ja": "カテゴリから例を選ぶ（クリックで入力欄へ）",
        "en": "Or pick an example by category (click to use)",
    },
    "cat_email": {"ja": "仕事のメール・敬語", "en": "Work email, politeness"},
    "cat_explain": {"ja": "説明して", "en": "Explain"},
    "cat_advice": {"ja": "相談", "en": "Advice"},
    "cat_creative": {"ja": "創作", "en": "Creative writing"},
    "cat_culture": {"ja": "日本の文化・歴史", "en": "Japanese culture, history"},
    "cat_math": {"ja": "数学・論理", "en": "Math, logic"},
    "cat_summary": {"ja": "要約・翻訳", "en": "Summary, translation"},
    "your_choice": {"ja": "あなたの選択", "en": "Your choice"},
    "retry_a": {"ja": "モデルAを再試行", "en": "Retry model A"},
    "retry_b": {"ja": "モデルBを再試行", "en": "Retry model B"},
    "pane_placeholder": {
        "ja": "質問を送信すると、ここに回答が表示されます。",
        "en": "Send a prompt; the answer appears here.",
    },
    "status_idle": {
        "ja": "質問を入力して送信してください。",
        "en": "Type a prompt and send it.",
    },
    "status_streaming": {"ja": "両モデルが回答中です…", "en": "Both models are answering…"},
    "status_ready": {
        "ja": "回答がそろいました。良い方に投票するか、続けて質問してください。",
        "en": "Both answers are in. Vote for the better one, or ask a follow-up.",
    },
    "status_failed": {
        "ja": "応答に失敗したモデルがあります。再試行してください。",
        "en": "A model failed to answer. Please retry it.",
    },
    "status_reasons": {
        "ja": "投票を記録しました。理由を選んで送るか、スキップしてください。",
        "en": "Vote recorded. Pick your reasons and send them, or skip.",
    },
    "status_voted": {
        "ja": "投票しました。「次の対戦へ」（N キー）で次の対戦を始められます。",
        "en": "Vote recorded. Press “Next battle” (key N) for the next one.",
    },
    "status_turn_limit": {
        "ja": "ターン数の上限に達しました。投票してください。",
        "en": "Turn limit reached. Please vote.",
    },
    "reveal_line": {"ja": "{side}：{name}", "en": "{side}: {name}"},
    "reveal_reasoning": {"ja": "{side}の思考過程：", "en": "{side}'s reasoning:"},
    "weights_open": {"ja": "オープン", "en": "open"},
    "weights_closed": {"ja": "非公開", "en": "closed"},
    "weights_note": {"ja": "（重み：{weights}）", "en": " (weights: {weights})"},
    "thanks": {"ja": "投票ありがとうございました！", "en": "Thank you for voting!"},
    "your_vote": {"ja": "あなたの投票：{verdict}", "en": "Your vote: {verdict}"},
    "not_counted": {
        "ja": "この対戦はモデルが名乗ったため集計に含まれません。",
        "en": "This battle will not count: a model named itself.",
    },
    "named_not_counted": {
        "ja": "モデル名が見えている対戦のため、レーティングには含まれません。",
        "en": "Names were shown in this battle, so it is left out of the ratings.",
    },
    "side_error": {
        "ja": "このモデルは応答できませんでした（{reason}）。下のボタンで再試行できます。",
        "en": "This model could not answer ({reason}). Use the button below to retry.",
    },
    # A side that ended with nothing to vote on: said plainly, never a blank pane.
    "side_error_content_filter": {
        "ja": "このモデルの回答は提供元のコンテンツフィルターで止められました。"
        "下のボタンで再試行できます。",
        "en": "This model's answer was stopped by its provider's content filter. "
        "Use the button below to retry.",
    },
    "side_error_refusal": {
        "ja": "このモデルはこの依頼への回答を断りました。下のボタンで再試行できます。",
        "en": "This model declined to answer this request. Use the button below to retry.",
    },
    "side_error_reasoning_only": {
        "ja": "このモデルは考えている途中で長さの上限に達し、回答を書けませんでした。"
        "下のボタンで再試行できます。",
        "en": "This model used up its length limit while thinking and wrote no answer. "
        "Use the button below to retry.",
    },
    "side_error_empty": {
        "ja": "このモデルの回答は空でした。下のボタンで再試行できます。",
        "en": "This model's answer was empty. Use the button below to retry.",
    },
    "side_error_tool_calls": {
        "ja": "このモデルは文章ではなくツール呼び出しだけを返しました。"
        "下のボタンで再試行できます。",
        "en": "This model returned only a tool call, no text. Use the button below to retry.",
    },
    "side_error_aborted": {
        "ja": "このモデルの回答はサーバー側で途中で打ち切られました。下のボタンで再試行できます。",
        "en": "This model's answer was cut off by its server. Use the button below to retry.",
    },
    # -- direct chat --------------------------------------------------------------------
    "chat_intro": {
        "ja": "選んだ1つのモデルと対話できます。会話は記録されますが、評価には使いません。",
        "en": "Talk to one model of your choice. Conversations are stored but never rated.",
    },
    "chat_pane": {"ja": "チャット", "en": "Chat"},
    "new_chat": {"ja": "新しい会話", "en": "New chat"},
    "choose_model_first": {"ja": "モデルを選んでください。", "en": "Please choose a model."},
}
