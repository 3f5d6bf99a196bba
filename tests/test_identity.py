"""The identity-leak detector: normalisation, the listed false positives and missed
spellings, prompt quotations, and precision and recall on the labelled corpus.

The corpus (tests/data/identity_corpus.jsonl) was written by hand; the models are those of
arena.example.toml, the demo models and "Alpha-Model" served as "vendor/alpha-served".
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
CORPUS = ROOT / "tests" / "data" / "identity_corpus.jsonl"
MIN_PRECISION = 0.97
MIN_RECALL = 0.95


def corpus_models() -> list[ModelSpec]:
    """The models the corpus was labelled against."""
    raw = tomllib.loads((ROOT / "arena.example.toml").read_text(encoding="utf-8"))["models"]
    models = [ModelSpec(name=m["name"], provider=m["provider"], model=m["model"]) for m in raw]
    alpha = ModelSpec(name="Alpha-Model", provider="vllm", model="vendor/alpha-served")
    return [*models, *demo_models(), alpha]


def load_corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


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
    for row in load_corpus():
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
    answer = "GPT-4o-2024-05-13 is faster than Gemini-1.5-pro."
    assert detector.find(answer) == "GPT-4o-2024-05-13"
    assert detector.find(answer, [prompt]) is None
    assert detector.find("私はGemini-1.5-proです。", [prompt]) == "私はGemini-1.5-proです"


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


# -- the corpus ---------------------------------------------------------------------------


def test_corpus_shape() -> None:
    rows = load_corpus()
    assert len(rows) >= 320
    assert {r["lang"] for r in rows} == {"ja", "en"}
    share_ja = sum(r["lang"] == "ja" for r in rows) / len(rows)
    share_leak = sum(r["leak"] for r in rows) / len(rows)
    assert 0.4 <= share_ja <= 0.6
    assert 0.3 <= share_leak <= 0.5
    assert all(set(r) == {"answer", "prompt", "leak", "lang", "note"} for r in rows)


def test_corpus_precision_and_recall(detector: IdentityDetector) -> None:
    tp = fp = fn = 0
    wrong: list[str] = []
    for row in load_corpus():
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
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    report = f"precision {precision:.3f}, recall {recall:.3f}\n" + "\n".join(wrong)
    assert precision >= MIN_PRECISION, report
    assert recall >= MIN_RECALL, report


def test_found_phrase_is_where_the_name_is(detector: IdentityDetector) -> None:
    """The phrase comes from the answer as written, and normalises to part of it."""
    for row in load_corpus():
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
