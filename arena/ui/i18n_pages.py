"""The other words of the page, ja and en: the about tab, the errors a volunteer can
meet, the first-visit dialog, the progress header and an event's banner.

Part of the page's one table of texts, :data:`arena.ui.i18n.TEXT` (looked up with
:func:`arena.ui.i18n.t`); apart so that each area's words can be read and changed
together. Every entry has both languages.
"""

from __future__ import annotations

PAGES_TEXT: dict[str, dict[str, str]] = {
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
