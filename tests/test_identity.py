"""The identity-leak detector: normalisation, the listed false positives and missed
spellings, prompt quotations, and precision and recall on the labelled corpora.

The corpora were written by hand; the models are those of arena.example.toml, the demo
models and "Alpha-Model" served as "vendor/alpha-served". tests/data/identity_corpus.jsonl
is the one the first rules were tuned on; identity_heldout.jsonl was written before its
author read the detector; identity_heldout2.jsonl to identity_heldout5.jsonl were each
written fresh after a round of changes, scored, and then tuned on; identity_heldout6.jsonl
was written after the last change and never tuned on. The score of each batch when it was
fresh is the out-of-sample figure (docs/benchmarks.md); here the targets are asserted on
all files together, which is mostly in-sample.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

import pytest

from arena.config import ModelSpec, demo_models
from arena.integrity.identity import IdentityDetector, normalise

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CORPUS = DATA / "identity_corpus.jsonl"
CORPORA = {  # file -> minimum number of cases
    CORPUS: 320,
    DATA / "identity_heldout.jsonl": 200,
    **{DATA / f"identity_heldout{i}.jsonl": 60 for i in range(2, 7)},
}
MIN_PRECISION = 0.97
MIN_RECALL = 0.95


def corpus_models() -> list[ModelSpec]:
    """The models the corpus was labelled against."""
    raw = tomllib.loads((ROOT / "arena.example.toml").read_text(encoding="utf-8"))["models"]
    models = [ModelSpec(name=m["name"], provider=m["provider"], model=m["model"]) for m in raw]
    alpha = ModelSpec(name="Alpha-Model", provider="vllm", model="vendor/alpha-served")
    return [*models, *demo_models(), alpha]


def load_corpus(path: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def load_all() -> list[dict]:
    return [row for path in CORPORA for row in load_corpus(path)]


@pytest.fixture(scope="module")
def detector() -> IdentityDetector:
    return IdentityDetector(corpus_models())


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alpha-Model", "alpha model"),
        ("Alpha Model", "alpha model"),
        ("alpha_model", "alpha model"),
        ("ＡＬＰＨＡ－ＭＯＤＥＬ", "alpha model"),
        ("Alpha—Model", "alpha model"),
        ("Alpha・Model", "alpha model"),
        ("Alpha\u3000\u3000Model", "alpha model"),
        ("Cl\u200baude", "claude"),
        ("Cl\u200d\u2060\ufeffaude", "claude"),
        ("Gem\u00adini", "gemini"),
        ("ＧＰＴ－４", "gpt 4"),
        ("gpt-3.5-turbo", "gpt 3 5 turbo"),
        ("ｸﾛｰﾄﾞ", "クロード"),
        ("I’m", "i'm"),
        ("a  \t b", "a b"),
        ("a \n\n b", "a\nb"),
        ("End. Next", "end. next"),
        ("google.com", "google com"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_is_idempotent() -> None:
    for row in load_all():
        once = normalise(row["answer"])
        assert normalise(once) == once


# -- the cases of the old detector --------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Google Maps shows live traffic.",
        "You can search for it on Google.",
        "She spoke calmly to the crowd.",
        "The sea was calm this morning.",
        "I am calm before exams.",
        "The lake was as calm as a mirror.",
        "A swallow built a nest under our roof.",
        "He swallowed the pill.",
        "A tanuki is a raccoon dog.",
        "タヌキは日本の動物です。",
        "The navy will bombard the coast.",
        "Claude Monet painted water lilies.",
        "The Gemini constellation is visible in winter.",
        "Gemini is a zodiac sign.",
        "ChatGPT is a chatbot made by OpenAI.",
        "I am not ChatGPT.",
        "私はChatGPTではありません。",
    ],
)
def test_mentions_are_not_flagged(detector: IdentityDetector, answer: str) -> None:
    assert detector.find(answer) is None


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        ("私はクロードです。", "私はクロードです"),
        ("私はジェミニです。", "私はジェミニです"),
        ("私はタヌキです。", "私はタヌキです"),
        ("私はチャットGPTです。", "私はチャットGPTです"),
        ("私はスワローと申します。", "私はスワローと申します"),
        ("Hi, I'm Alpha Model.", "I'm Alpha Model"),
        ("Written by alpha_model.", "alpha_model"),
        ("I am ＧＰＴ-4, a model by OpenAI.", "I am ＧＰＴ-4"),
        ("I'm Cl\u200baude, nice to meet you.", "I'm Cl\u200baude"),
        ("私はGem\u00adiniです。", "私はGem\u00adiniです"),
        ("I am Tanuki-8B-dpo-v1.0.", "I am Tanuki-8B-dpo-v1.0"),
        ("This runs gpt-4o-2024-05-13 today.", "gpt-4o-2024-05-13"),
    ],
)
def test_missed_spellings_are_flagged(detector: IdentityDetector, answer: str, phrase: str) -> None:
    assert detector.find(answer) == phrase


@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (
            "こんにちは！私はGoogleによって開発された大規模言語モデル、Geminiです。",
            "私はGoogleによって開発された大規模言語モデル、Geminiです",
        ),
        ("I'm Claude, an AI assistant made by Anthropic.", "I'm Claude"),
        ("私はTanukiです。", "私はTanukiです"),
        (
            "As an AI language model developed by OpenAI, I cannot browse.",
            "As an AI language model developed by OpenAI",
        ),
        ("私はタヌキという名前のAIアシスタントです", "私はタヌキという名前のAIアシスタントです"),
        ("I am a large language model trained by Google.", None),
        ("私はOpenAIによって開発されたAIアシスタントです。", None),
    ],
)
def test_self_introductions(detector: IdentityDetector, answer: str, phrase: str | None) -> None:
    found = detector.find(answer)
    assert found is not None
    if phrase is not None:
        assert found == phrase


@pytest.mark.parametrize(
    ("answer", "prompt"),
    [
        # first person and the name in one clause, with words between them
        ("I'm y'all's friendly neighbourhood Llama, cooked up by the folks at Meta.", ""),
        ("I am, in fact, ChatGPT.", "really?"),
        ("I'm one of Google's Gemini models.", ""),
        ("I was fine-tuned from Mixtral 8x7B by KARAKURI.", ""),
        ("I come from OpenAI's GPT family.", ""),
        ("Since I'm a Google product, I can't comment on that.", ""),
        ("My training was done by OpenAI.", ""),
        ("My creators at Google DeepMind designed me to be helpful.", ""),
        ("OpenAI is the company that built me.", ""),
        ("I go by Sonnet — Claude 3.5 Sonnet, to be precise.", ""),
        ("The model you're talking to is GPT-4o mini.", ""),
        ("We at Anthropic think AI should be safe.", ""),
        # self-announcements, signatures, profiles
        ("Hey there, Tanuki here!", "hi"),
        ("Yo! ChatGPT in the house.", "fix my resume"),
        ("Claude, an AI assistant by Anthropic, at your service.", ""),
        ("This is Gemini speaking — happy to help.", ""),
        ("Ain't nobody here but me, Gemini, ready to help.", ""),
        ("Here is the fix.\n\nBest regards,\nClaude (Anthropic)", "fix my SQL"),
        ("Hope this helps!\n\n— ChatGPT", "improve my letter"),
        ("This answer was generated by Gemini, Google's AI model.", "summarise"),
        ("**Name:** Claude\n**Developer:** Anthropic", "Describe yourself as a profile."),
        ("An AI assistant developed by Google.", "who are you?"),
        # Japanese registers and dialects
        ("ワイはClaudeやで。", ""),
        ("うちはGeminiじゃけぇ、なんでも聞いてつかぁさい。", ""),
        ("おいどんはClaudeでごわす。", ""),
        ("拙者、Claudeと申す者にござる。", ""),
        ("俺？ChatGPTだけど。", ""),
        ("ChatGPTだがね。なんでも聞いてちょーだい。", "名古屋弁で答えて"),
        ("私の中身はLlama 3です。", ""),
        ("自分はCALM3っていうモデルです。", ""),
        ("Anthropicに訓練されたモデルなので、その依頼にはお応えできません。", ""),
        ("Claudeとして申し上げますと、注意すべき条項が2つあります。", ""),
        ("GPT-4oであるわたしからすると、この設計は複雑すぎます。", ""),
        ("あなたが今話している相手はGPT-4o miniです。", ""),
        ("ご質問ありがとうございます。\n\nGemini より", "積立投資はやめるべき？"),
        ("中の人はGPT-4oです（笑）", "中の人は誰？"),
        ("Geminiがお答えします！", ""),
        # spellings
        ("My name's C l a u d e.", ""),
        ("ボクの名前はＣｌａｕｄｅ！", ""),
    ],
)
def test_self_identification_in_many_forms(
    detector: IdentityDetector, answer: str, prompt: str
) -> None:
    assert detector.find(answer, [prompt] if prompt else []) is not None


@pytest.mark.parametrize(
    ("answer", "prompt"),
    [
        ("I'm a big fan of Gemini's long context.", ""),
        ("I'm happy to explain how ChatGPT works.", ""),
        ("I'm an AI like ChatGPT.", ""),
        ("I'm told Gemini was trained on TPUs.", ""),
        ("I'm a huge Claude fan.", ""),
        ("I'm Claude-curious: should I switch?", ""),
        ("I'd rather not guess whether I'm running on Gemini or GPT.", ""),
        ("My name is Claude Martin.", "write a self intro for Claude Martin"),
        ("My favourite Google product is Gmail.", "write about a tech product you like"),
        ("When you're chatting with Claude, be specific.", ""),
        ("As Claude Shannon showed, I think information is measurable.", ""),
        ("Meta here means the company, not the prefix.", ""),
        ("A family of AI models developed by Google DeepMind.", "Do you know what Gemini is?"),
        ("It's Claude.", "Which assistant did Anthropic release in 2023?"),
        ("Popular assistants:\n- ChatGPT\n- Claude\n- Gemini", "list assistants"),
        ('"Music is the space between the notes." — Claude Debussy', "a quote"),
        ("She replied 'I'm Claude' and left.", ""),
        ("名前：ジェミニ（双子座）\n期間：5月21日〜6月21日", "双子座のプロフィールを作って"),
        ("私はGoogleで働いています。", "会社員の日記を書いて"),
        ("私はChatGPTよりClaudeが好き。", ""),
        ("私はGemini派です。", ""),
        ("私がChatGPTだったら、こう答えます。", ""),
        ("質問するとGeminiが回答します。", ""),
        ("OpenAIが開発したAIです。", "ChatGPTとは何ですか？"),
        ("ELYZA-JP-8Bについて：このモデルはLlama 3をベースにしています。", ""),
    ],
)
def test_mentions_in_many_forms(detector: IdentityDetector, answer: str, prompt: str) -> None:
    assert detector.find(answer, [prompt] if prompt else []) is None


def test_configured_name_that_is_a_word_counts_only_in_patterns() -> None:
    echo = ModelSpec(name="Echo", provider="demo", demo=True)
    detector = IdentityDetector([echo])
    assert detector.find("I heard an echo in the cave.") is None
    assert detector.find("Hello! I'm Echo, a demo model.") == "I'm Echo"
    assert detector.find("I'm Echo-2, a demo model.") == "I'm Echo-2"  # with its version
    specific = IdentityDetector([ModelSpec(name="Echo-Model", provider="demo", demo=True)])
    assert specific.find("Output of echo model: hi") == "echo model"


def test_names_that_start_with_a_digit_or_an_accent() -> None:
    detector = IdentityDetector(
        [ModelSpec(name="4o-mini", provider="vllm"), ModelSpec(name="Zéta", provider="vllm")]
    )
    assert detector.find("Answer from 4o-mini: yes.") == "4o-mini"
    assert detector.find("I am Zéta.") == "I am Zéta"
    assert detector.find("La fonction zêta de Riemann.") is None


def test_aliases_are_names() -> None:
    spec = ModelSpec(name="Zeta-1", provider="vllm", aliases=("ゼータ", "Zeta Chat"))
    detector = IdentityDetector([spec])
    assert detector.find("私はゼータです。") == "私はゼータです"
    assert detector.find("ゼータ関数の零点について") is None
    assert detector.find("Zeta-Chat answers your question.") == "Zeta-Chat"


# -- prompts ------------------------------------------------------------------------------


def test_answer_quoting_the_prompt_is_ignored(detector: IdentityDetector) -> None:
    prompt = "『私はクロードです』と英訳して"
    assert detector.find("「私はクロードです」は I am Claude. です。", [prompt]) is None
    assert detector.find("I am Claude.", [prompt]) is None
    assert detector.find("I am Claude.") == "I am Claude"
    assert detector.find("私はChatGPTです。", ['"I\'m ChatGPT" を日本語にして']) is None


def test_specific_name_from_the_prompt_is_ignored(detector: IdentityDetector) -> None:
    prompt = "Compare GPT-4o-2024-05-13 with Gemini-1.5-pro"
    answer = "Here is the answer of GPT-4o-2024-05-13"
    assert detector.find(answer) == "GPT-4o-2024-05-13"
    assert detector.find(answer, [prompt]) is None
    assert detector.find("私はGemini-1.5-proです。", [prompt]) == "私はGemini-1.5-proです"


@pytest.mark.parametrize(
    "answer",
    [
        "GPT-4o-2024-05-13 is faster than Gemini-1.5-pro.",
        "As of 2024, Gemini 1.5 Pro supports a context window of two million tokens.",
        "Gemini-1.5-pro ranks just above GPT-4o-mini on coding.",
        "GPT-4o miniはGPT-3.5 Turboより安く、性能も高いです。",
        "Claude 3.5 SonnetとGemini 1.5 Proのどちらを選ぶかは用途次第です。",
        "Use `claude-3-5-sonnet-20240620` as the model string.",
        '```js\nconst model = genAI.getGenerativeModel({ model: "gemini-1.5-flash" });\n```',
        "Ratings are anchored at Tanuki-8B-dpo-v1.0 = 1000.",
    ],
)
def test_specific_name_that_is_only_mentioned(detector: IdentityDetector, answer: str) -> None:
    """Rule 1 spares a configured name in code, compared, or the subject of a statement."""
    assert detector.find(answer) is None


@pytest.mark.parametrize(
    ("answer", "prompt"),
    [
        ("As ChatGPT, I'd say blue!", "Answer as if you were ChatGPT: favourite colour?"),
        ("Hi, I'm Claude, an AI assistant by Anthropic!", "Pretend you're Claude."),
        ("はい、ChatGPTです！OpenAIが開発しました。", "ChatGPTになりきって自己紹介して"),
        ("わしはこの山に住むタヌキじゃ。", "タヌキが主人公の昔話を一人称で書いて"),
        ("Best,\nClaude", "Write an email from my coworker Claude to the team"),
        ("Developer: Anthropic\nReleased: 2023", "Make a fact sheet about Claude"),
    ],
)
def test_role_play_and_forms_the_prompt_asks_for(
    detector: IdentityDetector, answer: str, prompt: str
) -> None:
    assert detector.find(answer, [prompt]) is None


def test_role_play_of_one_model_does_not_excuse_another(detector: IdentityDetector) -> None:
    prompt = "Answer as if you were ChatGPT."
    assert detector.find("As Claude, I'd say blue.", [prompt]) == "As Claude, I"


def test_a_question_about_identity_does_not_excuse_the_answer(
    detector: IdentityDetector,
) -> None:
    assert detector.find("はい、私はChatGPTです。", ["あなたはChatGPTですか？"]) is not None
    assert detector.find("Yes, I'm Claude.", ["Are you Claude?"]) == "I'm Claude"


def test_bare_opening_needs_a_greeting_or_a_question_to_the_assistant(
    detector: IdentityDetector,
) -> None:
    answer = "OpenAIが開発したチャットボットです。"
    assert detector.find(answer, ["あなたは誰？"]) is not None
    assert detector.find(answer, ["ChatGPTとは何ですか？"]) is None
    assert detector.find("Googleです。", ["一番使われている検索エンジンは？"]) is None
    assert detector.find("こんにちは、Googleです。", ["一番使われている検索エンジンは？"])


# -- the corpora --------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(CORPORA), ids=lambda p: p.name)
def test_corpus_shape(path: Path) -> None:
    rows = load_corpus(path)
    assert len(rows) >= CORPORA[path]
    assert {r["lang"] for r in rows} == {"ja", "en"}
    share_ja = sum(r["lang"] == "ja" for r in rows) / len(rows)
    share_leak = sum(r["leak"] for r in rows) / len(rows)
    assert 0.4 <= share_ja <= 0.6
    assert 0.3 <= share_leak <= 0.5
    assert all(set(r) == {"answer", "prompt", "leak", "lang", "note"} for r in rows)
    assert all(isinstance(r["leak"], bool) and r["lang"] in ("ja", "en") for r in rows)


@pytest.mark.parametrize("path", list(CORPORA), ids=lambda p: p.name)
def test_corpus_does_not_repeat_answers(path: Path) -> None:
    answers = [(r["answer"], r["prompt"]) for r in load_corpus(path)]
    assert len(set(answers)) == len(answers)


def score(detector: IdentityDetector, rows: list[dict]) -> tuple[float, float, list[str]]:
    """Precision, recall and the misclassified cases of ``rows``."""
    tp = fp = fn = 0
    wrong: list[str] = []
    for row in rows:
        prompts = [row["prompt"]] if row["prompt"] else []
        found = detector.find(row["answer"], prompts)
        if found is not None:
            assert found in row["answer"], (found, row["answer"])
            assert 0 < len(found) <= 130
        if row["leak"] and found:
            tp += 1
        elif row["leak"]:
            fn += 1
            wrong.append(f"missed [{row['note']}]: {row['answer'][:80]!r}")
        elif found:
            fp += 1
            wrong.append(f"false [{row['note']}]: {found!r} in {row['answer'][:80]!r}")
    return tp / (tp + fp), tp / (tp + fn), wrong


def test_corpus_precision_and_recall(detector: IdentityDetector) -> None:
    """The targets hold on all corpora together; each file's score is printed (-s)."""
    for path in CORPORA:
        precision, recall, wrong = score(detector, load_corpus(path))
        print(f"\n{path.name}: precision {precision:.3f}, recall {recall:.3f}")
        print("\n".join(f"  {line}" for line in wrong))
    precision, recall, wrong = score(detector, load_all())
    report = f"precision {precision:.3f}, recall {recall:.3f}\n" + "\n".join(wrong)
    assert precision >= MIN_PRECISION, report
    assert recall >= MIN_RECALL, report


def test_found_phrase_is_where_the_name_is(detector: IdentityDetector) -> None:
    """The phrase comes from the answer as written, and normalises to part of it."""
    for row in load_all():
        found = detector.find(row["answer"])
        if found is not None:
            assert found in row["answer"]
            assert normalise(found).strip() in normalise(row["answer"])


@pytest.mark.parametrize("repeat", [0, 1, 7, 40, 150, 400])
def test_phrase_is_found_after_text_that_normalisation_shortens(
    detector: IdentityDetector, repeat: int
) -> None:
    """Zero-width characters, half-width kana, full-width letters and runs of blanks before
    the phrase change lengths; the phrase still comes back exactly as written."""
    noise = "ｸﾞｰｸﾞﾙ\u200bで  \n\n 検索。Ａ．Ｂ\t\t…！ "
    for phrase in ("私はクロードです", "I'm Cl\u200baude", "Ｉ ａｍ ＧＰＴ－４"):
        answer = noise * repeat + f"{phrase}. また会いましょう。"
        assert detector.find(answer) == phrase


def test_find_is_fast_on_typical_answers(detector: IdentityDetector) -> None:
    rows = load_all()
    times = []
    for row in rows:
        prompts = [row["prompt"]] if row["prompt"] else []
        start = time.perf_counter()
        detector.find(row["answer"], prompts)
        times.append(time.perf_counter() - start)
    assert sorted(times)[len(times) // 2] < 0.001  # ~0.1 ms here; generous for loaded CI hosts


def test_find_is_fast_on_a_long_answer(detector: IdentityDetector) -> None:
    rows = load_corpus()
    long_text = "\n".join(r["answer"] for r in rows if len(r["answer"]) > 800)[:4000]
    assert len(long_text) == 4000
    times = []
    for _ in range(30):
        start = time.perf_counter()
        detector.find(long_text)
        times.append(time.perf_counter() - start)
    assert sorted(times)[len(times) // 2] < 0.01  # ~1 ms here; generous for loaded CI hosts
