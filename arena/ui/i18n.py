"""Every word the page shows, in Japanese and English.

Static labels go through ``gr.I18n``: Gradio picks the browser's language client-side,
and the page's language switch changes Gradio's locale (see :mod:`arena.ui.page_js`).
Texts made by handlers at run time (messages, the reveal, chart titles, the leaderboard)
go through :func:`t` with the page's ``lang`` state, which follows the same choice.
"""

from __future__ import annotations

import string

import gradio as gr

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

TEXT: dict[str, dict[str, str]] = {
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
    # -- leaderboard --------------------------------------------------------------------
    "lb_intro": {
        "ja": "ブラインド対戦の投票から Bradley-Terry モデルで計算したレーティングです"
        "（基準モデル＝1000）。列見出しの「⋮」メニューで並べ替えられます。",
        "en": "Ratings fitted with the Bradley-Terry model on blind-battle votes "
        "(anchor model = 1000). Sort with the ⋮ menu of a column header.",
    },
    "lb_refresh": {"ja": "最新の結果を読み込む", "en": "Reload the latest results"},
    "lb_empty": {
        "ja": "まだレーティングが計算されていません。投票が集まり、集計が"
        "行われると、ここに表示されます。",
        "en": "No ratings have been computed yet. They appear here once votes have been "
        "collected and the recomputation has run.",
    },
    "lb_run": {
        "ja": "集計日時：{time}（{zone}）・使用した投票数：{votes}・信頼区間：{method}",
        "en": "Computed {time} {zone} from {votes} votes; intervals: {method}",
    },
    "lb_provisional": {
        "ja": "**暫定**：アリーナの開始直後のため、新しい投票があると数分ごとに"
        "更新している暫定の結果です。",
        "en": "**Provisional**: the arena is young, so these results are refreshed every "
        "few minutes when new votes arrive.",
    },
    "method_sandwich": {
        "ja": "サンドイッチ推定（投票のばらつきを実データから見積もる頑健な方法）",
        "en": "sandwich estimator (robust: the spread is estimated from the votes themselves)",
    },
    "method_bootstrap": {
        "ja": "ブートストラップ（投票を無作為に再抽出して計算し直した結果の幅）",
        "en": "bootstrap (the spread of fits on votes resampled at random)",
    },
    "lb_next": {
        "ja": "次回の集計：{time}（{zone}）",
        "en": "Next recomputation: {time} {zone}",
    },
    "lb_next_provisional": {
        "ja": "アリーナの開始直後は、新しい投票があれば {minutes} 分ごとに暫定の結果に"
        "更新します（次回の確認：{time}）。",
        "en": "While the arena is young, a provisional board follows every {minutes} minutes "
        "when new votes arrived (next check {time}).",
    },
    "lb_no_schedule": {
        "ja": "自動の集計は設定されていません（運営者が手動で集計します）。",
        "en": "Automatic recomputation is off (the organisers run it).",
    },
    "lb_unrated_title": {
        "ja": "まだ評価できないモデル",
        "en": "Not rated yet",
    },
    "lb_unrated_intro": {
        "ja": "レーティングは、評価済みのモデルとの対戦が {n} 票以上あるモデルにだけ付けます。",
        "en": "A model is rated once it has {n} or more votes against the rated models.",
    },
    "lb_few_votes": {"ja": "投票数がまだ足りません", "en": "not enough votes yet"},
    "lb_not_connected": {
        "ja": "評価済みのモデルとまだ対戦していません",
        "en": "not yet compared with the rated models",
    },
    "lb_none_rated": {
        "ja": "投票数が足りないため、まだレーティングを付けられるモデルがありません。",
        "en": "No model has enough votes for a rating yet.",
    },
    "ci_open_low": {"ja": "下限なし", "en": "no lower bound"},
    "ci_open_high": {"ja": "上限なし", "en": "no upper bound"},
    "chart_open_end": {
        "ja": "矢印（◀ ▶）は、データから区間の端が決まらないことを表します"
        "（一度も負けていない、または一度も勝っていないモデル）。表では「—」と示します。",
        "en": "An arrow (◀ ▶) marks an interval end the data cannot bound (a model that "
        "never lost, or never won); the table shows it as “—”.",
    },
    "axis_run_zone": {"ja": "集計日時（{zone}）", "en": "Run ({zone})"},
    "lb_reason": {"ja": "理由", "en": "Why"},
    "table_search": {"ja": "表を検索…", "en": "Search the table…"},
    "lb_excluded": {
        "ja": "集計から除外した投票：{items}",
        "en": "Votes left out of the ratings: {items}",
    },
    "ex_voided": {"ja": "運営者が無効化 {n}", "en": "voided by the organisers {n}"},
    "ex_failed": {"ja": "回答エラー {n}", "en": "failed answers {n}"},
    "ex_named": {"ja": "ブラインドでない対戦 {n}", "en": "not blind {n}"},
    "ex_flagged": {"ja": "モデル名の開示など {n}", "en": "a model named itself, or moderation {n}"},
    "ex_fast": {"ja": "読む時間のない速さの投票 {n}", "en": "too fast to have read {n}"},
    "ex_cap_voter": {"ja": "投票者ごとの1日の上限超過 {n}", "en": "over a voter's daily cap {n}"},
    "ex_cap_address": {
        "ja": "接続元ごとの1日の上限超過 {n}",
        "en": "over an address's daily cap {n}",
    },
    "ex_steering": {
        "ja": "特定モデルの時だけ投票する投票者 {n}",
        "en": "voters who vote only when some model is present {n}",
    },
    "ex_outlier": {
        "ja": "統計的にありえない投票傾向の投票者 {n}",
        "en": "voters whose votes are improbable under the ratings {n}",
    },
    "lb_overlap": {
        "ja": "注意：次のモデルは95%信頼区間が大きく重なっており、順位の差は統計的に"
        "はっきりしません：{groups}。順位（UB）は、区間が完全に上回るモデルの数＋1です。",
        "en": "Note: the 95% intervals of these models overlap so much that their order is "
        "not statistically distinguishable: {groups}. Rank (UB) is 1 + the number of "
        "models whose interval lies entirely above.",
    },
    "col_rank": {"ja": "順位(UB)", "en": "Rank (UB)"},
    "col_model": {"ja": "モデル名", "en": "Model"},
    "col_rating": {"ja": "レーティング", "en": "Rating"},
    "col_ci": {"ja": "95%信頼区間", "en": "95% CI"},
    "col_win_rate": {"ja": "勝率", "en": "Win rate"},
    "col_battles": {"ja": "対戦回数", "en": "Battles"},
    "col_weights": {"ja": "モデル重みの公開", "en": "Weights"},
    "col_mt_bench": {"ja": "Japanese MT-Bench", "en": "Japanese MT-Bench"},
    "col_nejumi": {"ja": "Nejumi LB3", "en": "Nejumi LB3"},
    # -- votes until separated (issue 15: arena.separation) --
    "col_separate": {"ja": "次の順位と分離まで（票）", "en": "Votes to separate from next"},
    "sep_done": {"ja": "分離済み", "en": "separated"},
    "sep_not_in_sight": {"ja": "見込みなし", "en": "not in sight"},
    "not_reported": {"ja": "（報告無し）", "en": "(not reported)"},
    "chart_ratings": {
        "ja": "レーティングと95%信頼区間",
        "en": "Ratings with 95% confidence intervals",
    },
    "chart_winfrac": {
        "ja": "対戦ごとの勝率（行のモデルが列のモデルに勝った割合、引き分けは0.5）",
        "en": "Pairwise win fraction (row model beats column model; ties count 0.5)",
    },
    "chart_counts": {
        "ja": "組み合わせごとの対戦回数",
        "en": "Number of battles per pair",
    },
    "chart_history": {"ja": "集計ごとのレーティングの推移", "en": "Rating over past runs"},
    "chart_top": {
        "ja": "上位 {n} モデルを表示しています（全 {total} モデル）。",
        "en": "Showing the top {n} of {total} models.",
    },
    "chart_history_one": {
        "ja": "推移のグラフは集計が2回以上行われると表示されます。",
        "en": "The history chart appears after two or more runs.",
    },
    "chart_pairs_loading": {"ja": "対戦表を計算中…", "en": "Computing the pair tables…"},
    # -- the board by category (issue 15: arena.category_board, arena.categories) --
    "lb_category_label": {"ja": "対象の対戦", "en": "Battles shown"},
    "bc_all": {"ja": "すべて", "en": "All"},
    "bc_ja": {"ja": "日本語のプロンプト", "en": "Japanese prompts"},
    "bc_en": {"ja": "英語のプロンプト", "en": "English prompts"},
    "bc_coding": {"ja": "プログラミング", "en": "Coding"},
    "bc_math": {"ja": "数学", "en": "Math"},
    "bc_creative_writing": {"ja": "創作・文章", "en": "Writing and creative"},
    "bc_japanese_culture": {"ja": "日本の文化・知識", "en": "Japanese culture and knowledge"},
    "bc_multi_turn": {"ja": "複数ターン", "en": "Multi-turn"},
    "bc_long_answer": {"ja": "長い回答", "en": "Long answers"},
    "lb_cat_run": {
        "ja": "「{category}」の対戦だけで計算したレーティングです：使用した投票数 {votes}"
        "（{time}（{zone}）の集計までの投票。基準モデルと信頼区間の計算は全体と同じ"
        "サンドイッチ推定）。",
        "en": "Ratings fitted on the “{category}” battles alone: {votes} votes (cast before "
        "the run of {time} {zone}; same anchor as the main board, sandwich intervals).",
    },
    "lb_cat_screen": {
        "ja": "カテゴリ別の表では、除外ルール（無効・失敗・ブラインドでない・フラグ付き）は"
        "全体と同じですが、速すぎる投票や上限超過などの不正対策の選別は行っていません。"
        "分類のルールは docs/ratings.md にあります。",
        "en": "A category's board leaves out the same votes as the main board (voided, "
        "failed, not blind, flagged) but not those the rigging screen (too fast, over a "
        "cap, ...) would; the rules that sort battles are in docs/ratings.md.",
    },
    "lb_cat_too_few": {
        "ja": "「{category}」の対戦の投票はまだ {votes} 票で、レーティングを付けるには"
        "足りません（1モデルあたり {n} 票以上が必要です）。",
        "en": "Too few votes in “{category}” so far: {votes} votes, and a model needs "
        "{n} to be rated.",
    },
    # -- the style-controlled board (issue 15: arena.style_board) --
    "lb_style_label": {"ja": "表示するレーティング", "en": "Ratings shown"},
    "lb_style_plain": {"ja": "通常", "en": "Plain"},
    "lb_style_controlled": {"ja": "スタイル制御", "en": "Style-controlled"},
    "lb_style_run": {
        "ja": "スタイル制御したレーティングです：{scope}の投票 {votes} 票（{time}（{zone}）の"
        "集計までの投票。基準モデルと信頼区間の計算は通常の表と同じ）。",
        "en": "Style-controlled ratings: {votes} votes of {scope} (cast before the run of "
        "{time} {zone}; same anchor and intervals as the plain board).",
    },
    "lb_style_all": {"ja": "すべての対戦", "en": "all battles"},
    "lb_style_scope": {"ja": "「{category}」の対戦", "en": "the “{category}” battles"},
    "lb_style_explain": {
        "ja": "スタイル制御は、2つの回答の長さとMarkdown（見出し・箇条書き・太字）の差を"
        "統計的に差し引き、内容の強さだけでモデルを比べます。この投票では、相手より長い回答"
        "（長さの差が1標準偏差）は {points} ポイント有利でした（{level}信頼区間 "
        "{lower}〜{upper}）。",
        "en": "Style control takes the difference in length and Markdown (headers, lists, "
        "bold) between the two answers out of the votes and compares what is left. In these "
        "votes, an answer longer than the other by one standard deviation was worth "
        "{points} rating points ({level} interval {lower} to {upper}).",
    },
    "lb_style_explain_flat": {
        "ja": "スタイル制御は、2つの回答の長さとMarkdown（見出し・箇条書き・太字）の差を"
        "統計的に差し引き、内容の強さだけでモデルを比べます。この投票では回答の長さに差が"
        "ありませんでした。",
        "en": "Style control takes the difference in length and Markdown (headers, lists, "
        "bold) between the two answers out of the votes and compares what is left. The "
        "answers' lengths did not differ in these votes.",
    },
    "lb_style_screen": {
        "ja": "順位の変化（▲ 上昇、▼ 下降、– 変化なし）は、同じ投票で計算した通常の"
        "順位との比較です。不正対策の選別（速すぎる投票など）は行っていません。"
        "詳しくは docs/ratings.md にあります。",
        "en": "The change (▲ up, ▼ down, – none) compares with the plain rank on the same "
        "votes; the rigging screen (too fast, over a cap, ...) is not applied again. "
        "Details in docs/ratings.md.",
    },
    "lb_style_from_messages": {
        "ja": "{n} 件の対戦は、保存時の集計がないため回答の本文から数えました。",
        "en": "{n} battles were stored without their style counts; they were counted "
        "from their answers.",
    },
    "lb_style_failed": {
        "ja": "この投票ではスタイル制御のレーティングを計算できませんでした：{reason}",
        "en": "The style-controlled ratings could not be fitted on these votes: {reason}",
    },
    "col_style_change": {"ja": "通常との差", "en": "Change vs plain"},
    "col_plain_rank": {"ja": "通常の順位(UB)", "en": "Plain rank (UB)"},
    "col_plain_rating": {"ja": "通常のレーティング", "en": "Plain rating"},
    "style_table_title": {
        "ja": "スタイル制御したレーティング",
        "en": "Style-controlled ratings",
    },
    "style_up": {"ja": "通常より{n}つ上", "en": "{n} places higher than plain"},
    "style_down": {"ja": "通常より{n}つ下", "en": "{n} places lower than plain"},
    "style_same": {"ja": "通常と同じ順位", "en": "same rank as plain"},
    # -- leaderboard sub-tabs: reasons per model, the seed report then and the arena now --
    "lb_sub_ratings": {"ja": "レーティング", "en": "Ratings"},
    "lb_sub_reasons": {"ja": "理由", "en": "Reasons"},
    "lb_sub_then_now": {"ja": "報告時と現在", "en": "Then and now"},
    "lb_when": {"ja": "{time}（{zone}）", "en": "{time} {zone}"},
    "rs_intro": {
        "ja": "投票者が各モデルの回答に選んだ理由です。割合は、そのモデルの対戦のうち"
        "理由つきで投票された票に占める割合、小さい数字は件数です。数える票はレーティングと"
        "同じ（ブラインド対戦。無効・失敗・フラグ付きの対戦は除く）で、{time} の集計までに"
        "投じられたものです。「良い回答」「良くない回答」は、名前の表示後に回答ごとに"
        "押された評価の数です。",
        "en": "The reasons voters picked for each model's answers. A share is out of the "
        "votes on that model's battles that came with reasons; the small number is the "
        "count. The votes are those the ratings count (blind battles; voided, failed and "
        "flagged ones left out), cast up to the run of {time}. “Good answer” and “Bad "
        "answer” count the thumbs given to single answers after the reveal.",
    },
    "rs_good": {"ja": "良い点として選ばれた理由", "en": "Reasons given as strengths"},
    "rs_bad": {"ja": "悪い点として選ばれた理由", "en": "Reasons given as weaknesses"},
    "rs_with_reasons": {"ja": "理由つきの票", "en": "Votes with reasons"},
    "rs_thumbs_up": {"ja": "「良い回答」の評価", "en": "“Good answer” thumbs"},
    "rs_thumbs_down": {"ja": "「良くない回答」の評価", "en": "“Bad answer” thumbs"},
    "rs_none": {"ja": "理由つきの票はまだありません。", "en": "No votes with reasons yet."},
    "rs_no_run": {
        "ja": "理由の集計は、最初のレーティング集計のあとに表示されます。",
        "en": "The reasons are shown once the first ratings are computed.",
    },
    "rs_pending": {
        "ja": "理由を集計しています。少し待ってから「最新の結果を読み込む」を押してください。",
        "en": "The reasons are being counted. Wait a moment, then press "
        "“Reload the latest results”.",
    },
    "tn_title": {
        "ja": "報告時（2024年8月）と現在のランキング",
        "en": "The report then (August 2024), the arena now",
    },
    "tn_intro": {
        "ja": "左は 2024年8月19〜24日の人手評価（{votes}票、13モデル）で公開された表、"
        "右は最新の集計です。順位はどちらもレーティングの高い順で、報告は信頼区間を"
        "公開していません。",
        "en": "Left: the table published from the human evaluation of 19-24 August 2024 "
        "({votes} votes, 13 models); right: the latest run. Places are by rating on both "
        "sides; the report published no intervals.",
    },
    "tn_now_run": {
        "ja": "現在：{time} の集計（{votes}票）。",
        "en": "Now: the run of {time} ({votes} votes).",
    },
    "tn_no_run": {
        "ja": "現在の集計はまだありません。報告時の表だけを示します。",
        "en": "No run yet: the report's table alone.",
    },
    "tn_scale_differs": {
        "ja": "注意：報告は {report} = 1000、現在の集計は {anchor} = 1000 が基準のため、"
        "レーティングの値はそのままは比べられません。",
        "en": "Note: the report is anchored at {report} = 1000 and today's run at "
        "{anchor} = 1000, so the ratings are not on one scale.",
    },
    "tn_then": {"ja": "報告時", "en": "Then"},
    "tn_now": {"ja": "現在", "en": "Now"},
    "tn_place": {"ja": "順位", "en": "Place"},
    "tn_change": {"ja": "順位の変化", "en": "Change"},
    "tn_new": {"ja": "新規", "en": "new"},
    "tn_not_rated": {"ja": "今回は評価なし", "en": "not rated now"},
    "tn_not_published": {"ja": "未公表", "en": "not published"},
    "tn_same": {"ja": "変化なし", "en": "no change"},
    "tn_up": {"ja": "{n}つ上昇", "en": "up {n}"},
    "tn_down": {"ja": "{n}つ下降", "en": "down {n}"},
    "axis_rating": {"ja": "レーティング", "en": "Rating"},
    "heat_row": {"ja": "行：モデル", "en": "Row: model"},
    "heat_col": {"ja": "列：対戦相手", "en": "Column: opponent"},
    "no_battles": {"ja": "対戦なし", "en": "no battles"},
    # -- about (rendered when the tab is opened: it names the anchor model) ---------------
    "about": {
        "ja": """## Tanuki Arena について

日本語で使う大規模言語モデル（LLM）を、人の目でブラインド評価するサイトです。
東京大学 松尾・岩澤研究室の Tanuki-8×8B の報告で行った人手評価（ChatBot Arena と同じ方式）を、
もう一度、よりよい形で行うために作られました。

### 対戦の組み方
- 質問のたびに、有効なモデルから2つを選びます。モデルごとの重み（出現しやすさ）に従い、
  **これまでの対戦回数が少ない組み合わせを優先**します。
- 応答が続けて失敗しているモデル（障害中）は、回復するまで選ばれません。
- 回答は「モデルA」「モデルB」として表示され、投票するまでモデル名はブラウザに送られません。

### レーティングの計算
- 投票から **Bradley-Terry モデル**の最尤推定でレーティングを計算します。
  基準は **{anchor} = 1000** です（差が400点で勝つ確率が約10倍）。
- 「引き分け」と「どちらも悪い」は、両モデルに0.5勝ずつとして数えます。
- **95%信頼区間**はサンドイッチ推定量（またはブートストラップ）で求めます。
- **順位(UB)** は「区間が完全に上回るモデルの数＋1」です。
  区間が重なるモデルどうしは同順位になりえます。
- 集計に含めない投票：モデル名が見えている対戦（モデルを選んで比較）、1対1チャット、
  モデルが名乗った対戦、応答に失敗した対戦、無効にされた投票。
- 集計は毎晩行われ、過去の集計結果もすべて保存されます。

### 保存するデータ
- 入力された質問、両モデルの回答（応答時間・トークン数を含む）、投票。
- ブラウザごとの仮名ID（ランダムな文字列。氏名などとは結びつきません）と、
  ソルト付きハッシュ化したIPアドレス（IPアドレスそのものは保存しません）。

### 公開するデータ
- 対戦と投票のデータは、投票者IDを仮名化したうえで公開する予定です
  （ChatBot Arena と同じ形式：質問、両モデルの会話、勝敗、言語、日時）。
  **個人情報は入力しないでください。**
""",
        "en": """## About Tanuki Arena

A site for blind human evaluation of large language models used in Japanese. It exists to
run again, and better, the human evaluation (the ChatBot Arena method) of the University of
Tokyo Matsuo-Iwasawa Lab's Tanuki-8×8B report.

### How battles are drawn
- For each prompt two enabled models are drawn, following each model's sampling weight
  and **favouring the pairs that have had the fewest battles so far**.
- A model whose recent calls keep failing (an outage) is skipped until it recovers.
- The answers are shown as "Model A" and "Model B"; no model name reaches your browser
  before you vote.

### How ratings are computed
- Ratings are the maximum-likelihood fit of the **Bradley-Terry model** to the votes,
  anchored at **{anchor} = 1000** (400 points apart means about 10:1 odds).
- "Tie" and "Both are bad" count as half a win for each model.
- **95% confidence intervals** come from the sandwich estimator (or a bootstrap).
- **Rank (UB)** is 1 + the number of models whose interval lies entirely above; models
  whose intervals overlap can share a rank.
- Left out of the ratings: battles with names shown (side by side), direct chats, battles
  where a model named itself, failed battles, and voided votes.
- Ratings are recomputed nightly; every past run is kept.

### What is kept
- Your prompts, both models' answers (with latency and token counts), and your votes.
- A pseudonymous id per browser (a random string, not linked to who you are) and a
  salted hash of your IP address (the address itself is never stored).

### What is published
- Battles and votes are to be published with voter ids pseudonymised, in the ChatBot
  Arena format (prompt, both conversations, verdict, language, time).
  **Please do not enter personal information.**
""",
    },
    # -- errors -------------------------------------------------------------------------
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
    "err_choose_models": {
        "ja": "異なるモデルを {n} つ選んでください。",
        "en": "Please choose {n} different model(s).",
    },
    "err_model_unavailable": {
        "ja": "選んだモデルは現在利用できません。",
        "en": "The chosen model is not available right now.",
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
    "err_vote_invalid": {"ja": "この投票は受け付けられません。", "en": "This vote is not valid."},
    "err_unknown_battle": {"ja": "対戦が見つかりません。", "en": "Unknown battle."},
    "err_battle_busy": {
        "ja": "この対戦は応答中か終了しています。新しい対戦を始めてください。",
        "en": "This battle is busy or over. Please start a new round.",
    },
    "err_backend": {
        "ja": "モデルが応答できませんでした。再試行してください。",
        "en": "The model could not answer. Please retry.",
    },
    "err_unknown_voter": {
        "ja": "このページの投票者情報が無効です。ページを再読み込みしてください。",
        "en": "This page's voter is not valid. Please reload the page.",
    },
    "err_rate_limited": {
        "ja": "短時間に操作が多すぎます。{retry_after} 秒ほど待ってから、もう一度お試しください。",
        "en": "Too many requests in a short time. Please wait about {retry_after} s and try again.",
    },
    "err_reasons_repeat": {
        "ja": "この対戦の理由はすでに送られています。",
        "en": "The reasons for this battle were already sent.",
    },
    "err_network": {
        "ja": "接続が途中で切れました。もう一度送信するか、新しい対戦を始めてください。",
        "en": "The connection was lost. Please send again, or start a new battle.",
    },
    "err_battle_closed": {
        "ja": "新しい対戦を始めたため、この対戦は終了しました。",
        "en": "A newer battle was started, so this one is closed.",
    },
    "err_access_code_required": {
        "ja": "この評価は招待制です。参加コードを入力してください。",
        "en": "This evaluation is by invitation. Please enter your access code.",
    },
    "err_access_code_invalid": {
        "ja": "参加コードが正しくありません。",
        "en": "The access code is not valid.",
    },
    "err_pow_required": {
        "ja": "ブラウザの確認が終わっていません。ページを再読み込みしてください。",
        "en": "The browser check has not finished. Please reload the page.",
    },
    "err_pow_invalid": {
        "ja": "ブラウザの確認に失敗しました。ページを再読み込みしてください。",
        "en": "The browser check failed. Please reload the page.",
    },
    "err_error": {"ja": "エラーが発生しました：{message}", "en": "Something went wrong: {message}"},
    # -- issue 18: first-visit dialog, progress header, event mode (arena/ui/progress.py) --
    "consent_title": {"ja": "はじめに", "en": "Before you start"},
    "consent_intro": {
        "ja": "Tanuki Arenaへようこそ。最初の質問を送る前に、次の点をご確認ください。",
        "en": "Welcome to Tanuki Arena. Before you send your first prompt, please note:",
    },
    "consent_points": {
        "ja": "プロンプトに個人情報（名前・住所・連絡先など）を書かないでください。\n"
        "AIの回答は間違っていることがあります。\n"
        "会話と投票は研究のため匿名で公開されます。",
        "en": "Do not write personal information (names, addresses, contacts) in prompts.\n"
        "AI answers can be wrong.\n"
        "Conversations and votes will be published anonymously for research.",
    },
    "consent_license": {
        "ja": "公開データのライセンス：{license}",
        "en": "License of the published data: {license}",
    },
    "consent_accept": {"ja": "同意して始める", "en": "I agree, let's start"},
    "progress_own": {"ja": "あなたの投票：{own}票", "en": "Your votes: {own}"},
    "progress_total": {
        "ja": "アリーナ全体：{total} / 目標{goal}票",
        "en": "Arena total: {total} of {goal} votes",
    },
    "progress_gauge": {"ja": "目標までの進み具合", "en": "Progress toward the goal"},
    "event_votes": {"ja": "{votes} / 目標{goal}票", "en": "{votes} of {goal} votes"},
    "event_left": {"ja": "締め切りまで残り{time}", "en": "{time} left"},
    "event_upcoming": {
        "ja": "{time}後に始まります。始まるまでの投票はイベントに数えられません。",
        "en": "Starts in {time}. Votes before the start do not count for the event.",
    },
    "event_days": {"ja": "{d}日{h}時間", "en": "{d} d {h} h"},
    "event_hours": {"ja": "{h}時間{m}分", "en": "{h} h {m} min"},
    "event_ended": {
        "ja": "このイベントは終了しました。ご参加ありがとうございました！",
        "en": "This event has ended. Thank you for taking part!",
    },
    "event_after": {
        "ja": "これからの投票も通常のアリーナで数えられます。",
        "en": "Your votes from now on still count in the arena.",
    },
    "event_results": {"ja": "イベントの結果を見る", "en": "See the event's results"},
    "event_results_title": {
        "ja": "「{name}」の結果（{votes}票から）",
        "en": "Results of “{name}” (from {votes} votes)",
    },
    "event_results_none": {
        "ja": "まだ結果を出せるだけの投票がありません。",
        "en": "There are not enough votes for results yet.",
    },
    "event_col_rank": {"ja": "順位", "en": "Rank"},
    "event_col_model": {"ja": "モデル", "en": "Model"},
    "event_col_rating": {"ja": "レーティング", "en": "Rating"},
    "event_col_battles": {"ja": "対戦数", "en": "Battles"},
    "event_col_record": {"ja": "勝 / 分 / 負", "en": "Won / tied / lost"},
    "event_unknown": {
        "ja": "リンクのイベント「{slug}」は見つかりませんでした。"
        "このまま通常のアリーナで投票できます。",
        "en": "We could not find the event “{slug}” from your link. "
        "You can still vote in the arena.",
    },
    "toast_warning": {"ja": "注意", "en": "Warning"},
}


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
