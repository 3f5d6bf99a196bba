"""The leaderboard's words, ja and en: the table and its notes, votes until separated,
the board by category and the style-controlled board, the reasons and then-and-now views.

Part of the page's one table of texts, :data:`arena.ui.i18n.TEXT` (looked up with
:func:`arena.ui.i18n.t`); apart so that each area's words can be read and changed
together. Every entry has both languages.
"""

from __future__ import annotations

BOARD_TEXT: dict[str, dict[str, str]] = {
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
}
