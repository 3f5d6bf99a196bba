"""What a battle is about: its prompt language and its categories, by documented rules.

The leaderboard can be read per category (:mod:`arena.category_board`), and the export
carries each battle's tags, so the rules are written here once, in plain words, and
nothing else decides them. A battle is tagged as each of its turns is stored (the hook in
:meth:`arena.battles.Arena._store_turn`, after both answers streamed, so tagging never
delays a first token), again when a turn is answered anew, and old or imported battles
by ``python -m arena categorise`` (and once by migration 0010).

Language
    The first prompt's language, detected by lingua (``lingua-language-detector``,
    high-accuracy mode) among Japanese, English, Chinese, Korean, French, German,
    Spanish, Italian, Portuguese and Russian, after fenced code blocks and URLs are
    removed (code is English-looking in any language), on at most
    :data:`DETECT_CHARS` characters. Stored as an ISO 639-1 code in
    ``battles.prompt_language``; ``und`` (undetermined) for a prompt with no letters
    lingua knows (digits, emoji). High-accuracy mode, no minimum distance: on the
    bench's labelled prompts (bench/bench_categories.py) it reads 35 of 36 right, where
    low-accuracy mode reads 31 and misreads short English as German or French, and a
    minimum distance only turns right answers into ``und``; low-accuracy mode is no
    faster per prompt (about 0.1 ms either way), it only loads faster
    (docs/benchmarks.md).

Categories (a battle may have several, or none), stored in ``battle_categories``:

``coding``
    A prompt has a fenced code block (```), code-shaped text (``def f(``,
    ``function (``, ``#include <``, ``console.log``, ``print(``, ``=>``, a line
    ``import x``, ``SELECT ... FROM``, an HTML tag, a line ending in ``;`` or ``{``), or
    a programming word: Python, JavaScript, TypeScript, Java, C++, C#, Rust (capital R
    only), Golang, Kotlin, PHP, SQL, HTML, CSS, Bash, PowerShell, coding, programming,
    debug(ging), compiler, compile error, regex, regular expression, API, algorithm,
    function call, stack trace, source code, unit test, code snippet, "my / this / the
    following / some / sample / write(ing) code"; ソースコード, コードを書/直/修正/説明/
    レビュー, プログラム, スクリプト, 実装, デバッグ, コンパイル, バグ, アルゴリズム,
    正規表現, 関数を書/作. Or both sides' answers hold a fenced code block.
``math``
    A prompt has a math symbol (∫ ∑ √ π ≤ ≥ ≠ ± × ÷ ∞ ∂ ∈), LaTeX (``\\frac``,
    ``\\sqrt``, ``\\int``, ``\\sum``), a power (``x^2``), an equation (``2x + 3 = 7``;
    at most 80 characters between its first number and ``=``, so a long prompt is read in
    linear time), a sum asked for (``2+2?``, ``12×7は``) or a product (``12 * 7``), or a math word:
    math(s), mathematics, equation(s), calculate, integral, derivative, probability,
    theorem, proof, algebra, geometry, arithmetic, prime number(s), matrix, solve for;
    数学, 算数, 方程式, 計算, 微分, 積分, 確率, 証明 (not 証明書), 定理, 因数分解,
    行列式, 逆行列, 固有値, 素数, 幾何, 代数, 平方根, 二次関数, 何通り, 面積, 体積
    (not 行列 alone: a queue of people).
``creative_writing``
    A prompt asks for writing: poem(s), poetry, haiku, sonnet, limerick, lyrics, short
    story, fairy tale, fable, screenplay, fan fiction, role-play, or "write / tell /
    compose / create a ... story, poem, song, tale, essay, letter, speech, novel" (within
    40 characters, one sentence); 小説, 詩, 物語, 短歌, 俳句, 川柳, 歌詞, 作詞, 童話,
    昔話, 脚本, シナリオ, ストーリー, ポエム, エッセイ, 作文, キャッチコピー, スピーチ,
    手紙, セリフ, 台詞, ロールプレイ, なりきり, 創作.
``japanese_culture``
    A prompt is about Japan: 日本 (but not "日本語で / 日本語に / 日本語へ / 日本語訳",
    which only ask for the answer's language), 和食, 寿司, 着物, 神社, お寺, 茶道, 華道,
    書道, 武道, 相撲, 歌舞伎, 落語, 浮世絵, 漫画, アニメ, 敬語, 俳句, 短歌, 川柳, 和歌,
    季語, 方言, 関西弁, 都道府県, 東京, 京都, 大阪, 北海道, 沖縄, 富士山, 天皇, 江戸,
    明治, 大正, 昭和, 平成, 令和, 戦国, 幕府, 武士, 侍, 忍者, 将軍, お盆, 正月, 花見,
    四字熟語, ことわざ, 慣用句, 百人一首, 源氏物語; Japan, Tokyo, Kyoto, Osaka, sushi,
    kimono, shinto, samurai, shogun, anime, manga, haiku, keigo, kanji, hiragana,
    katakana, "Japanese" (not after in / into / to: that asks for the answer's
    language) and "Japanese culture / history / food / cuisine / language / grammar /
    art / literature / tradition(s) / garden(s) / etiquette / honorifics". History in
    general (歴史 alone) is not: only Japan's, by its names above.
``multi_turn``
    More than one user turn was stored (``battles.turns`` > 1).
``long_answer``
    An answer of either side is over :data:`LONG_ANSWER_TOKENS` (1,000) tokens: the
    model's reported completion tokens, else the export's estimate (ceil(UTF-8 bytes /
    3), :func:`arena.dataset.message_tokens`).

Words match case-insensitively; Latin words only as whole words. A rule change applies
to new battles at once and to old ones with ``python -m arena categorise --all``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, delete, exists, insert, select, update
from sqlalchemy.orm import Session

from arena.dataset import message_tokens
from arena.db.models import Battle, BattleCategory, Message

if TYPE_CHECKING:
    from lingua import LanguageDetector

CATEGORIES = (
    "coding",
    "math",
    "creative_writing",
    "japanese_culture",
    "multi_turn",
    "long_answer",
)
#: The languages lingua chooses among, as ISO 639-1 codes (lingua's names in LANGUAGES).
LANGUAGE_CODES = ("ja", "en", "zh", "ko", "fr", "de", "es", "it", "pt", "ru")
#: Each code's name, as the public battle files spell languages.
LANGUAGES = {
    "ja": "Japanese", "en": "English", "zh": "Chinese", "ko": "Korean", "fr": "French",
    "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian",
}  # fmt: skip
#: No language clearly ahead (ISO 639-2's "undetermined").
UNDETERMINED = "und"
#: Characters of the first prompt the detector reads (about 1 ms at most).
DETECT_CHARS = 2000
#: An answer over this many tokens makes the battle ``long_answer``.
LONG_ANSWER_TOKENS = 1000

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_URL = re.compile(r"https?://\S+")


def _words(*words: str) -> str:
    """Latin words as whole words (``\\b`` on the sides that are word characters).

    A lookahead on the words' first letters comes first, so the engine tries the words
    only where one of them could start (twice as fast on prose, the same matches)."""
    parts, firsts = [], set()
    for w in words:
        left = r"\b" if re.match(r"\w", w) else ""
        right = r"\b" if re.search(r"\w$", w) else ""
        parts.append(f"{left}{w}{right}")
        firsts.add(w[1] if w.startswith("\\") else w[0])
    return f"(?=[{''.join(re.escape(c) for c in sorted(firsts))}])(?:{'|'.join(parts)})"


def _rule(*parts: str, flags: int = re.I) -> tuple[re.Pattern[str], ...]:
    """A rule: it matches where any of its parts does. Each part is compiled on its own,
    not joined into one alternation: Python's ``re`` then skips ahead with each part's
    own prefix, where one big alternation tries every part at every character (English
    prose: about 5 µs a character for the four rules joined, 0.9 µs apart, with
    :func:`_words`' lookahead; bench/bench_beyond.py --only timing, tagging)."""
    return tuple(re.compile(part, flags) for part in parts)


_CODING_WORDS = (
    "python", "javascript", "typescript", "java", r"c\+\+", "c#", "golang", "kotlin", "php",
    "sql", "html", "css", "bash", "powershell", "coding", "programming", "debug", "debugging",
    "compiler", "compile error", "regex", "regular expression", "API", "algorithm",
    "function call", "stack trace", "source code", "unit test", "code snippet",
)  # fmt: skip
_CODING = _rule(
    r"```",
    r"\bdef \w+\(",
    r"\bfunction\s*\w*\s*\(",
    r"#include\s*<",
    r"console\.log",
    r"^\s*import [\w.]+\s*$",
    r"\bSELECT\b[\s\S]{1,200}?\bFROM\b",
    r"</?(?:div|span|html|body|script|ul|li)\b",
    r"[;{]\s*$",
    r"=>",
    r"\bprint\(",
    r"(?-i:\bRust\b)",
    _words(*_CODING_WORDS),
    r"\b(?:my|this|the following|some|sample|write|writing) code\b",
    r"ソースコード|コードを(?:書|直|修正|説明|レビュー)|プログラム|スクリプト|実装|デバッグ"
    r"|コンパイル|バグ|アルゴリズム|正規表現|関数を(?:書|作)",
    flags=re.I | re.M,
)
_MATH_WORDS = (
    "math", "maths", "mathematics", "equation", "equations", "calculate", "integral",
    "derivative", "probability", "theorem", "proof", "algebra", "geometry", "arithmetic",
    "prime number", "prime numbers", "matrix", "solve for",
)  # fmt: skip
_MATH = _rule(
    r"[∫∑√π≤≥≠±×÷∞∂∈]",
    r"\\(?:frac|sqrt|int|sum)\b",
    r"\b[a-z]\s*\^\s*\d",
    r"\d\s*[a-z]?\s*[-+*/×÷^]\s*\d[\d\s.a-z+*/×÷^()-]{0,80}=",
    r"\d+\s*[-+*/×÷^]\s*\d+\s*(?:[?？=]|は|って)",
    r"\d+\s*[*×÷^]\s*\d+",
    _words(*_MATH_WORDS),
    r"数学|算数|方程式|計算|微分|積分|確率|証明(?!書)|定理|因数分解|行列式|逆行列|固有値"
    r"|素数|幾何|代数|平方根|二次関数|何通り|面積|体積",
)
_CREATIVE_WORDS = (
    "poem", "poems", "poetry", "haiku", "sonnet", "limerick", "lyrics", "short story",
    "fairy tale", "fable", "screenplay", "fan fiction", "fanfiction", "role-play", "roleplay",
)  # fmt: skip
_CREATIVE = _rule(
    _words(*_CREATIVE_WORDS),
    r"\b(?:write|tell|compose|create)\b[^.?!\n]{0,40}?\b(?:story|stories|poem|song|tale"
    r"|essay|letter|speech|novel)\b",
    r"小説|詩|物語|短歌|俳句|川柳|歌詞|作詞|童話|昔話|脚本|シナリオ|ストーリー|ポエム"
    r"|エッセイ|作文|キャッチコピー|スピーチ|手紙|セリフ|台詞|ロールプレイ|なりきり|創作",
)
_JAPAN_WORDS = (
    "Japan", "Tokyo", "Kyoto", "Osaka", "sushi", "kimono", "shinto", "samurai", "shogun",
    "anime", "manga", "haiku", "keigo", "kanji", "hiragana", "katakana",
)  # fmt: skip
_JAPAN = _rule(
    r"日本(?!語(?:で|に|へ|訳))",
    r"和食|寿司|着物|神社|お寺|茶道|華道|書道|武道|相撲|歌舞伎|落語|浮世絵|漫画|アニメ"
    r"|敬語|俳句|短歌|川柳|和歌|季語|方言|関西弁|都道府県|東京|京都|大阪|北海道|沖縄"
    r"|富士山|天皇|江戸|明治|大正|昭和|平成|令和|戦国|幕府|武士|侍|忍者|将軍|お盆|正月"
    r"|花見|四字熟語|ことわざ|慣用句|百人一首|源氏物語",
    _words(*_JAPAN_WORDS),
    r"\bJapanese\b(?<!\bin Japanese)(?<!\binto Japanese)(?<!\bto Japanese)",
    r"\bJapanese (?:culture|history|food|cuisine|language|grammar|art|literature|traditions?"
    r"|gardens?|etiquette|honorifics)\b",
)
_TOPICS = (
    ("coding", _CODING),
    ("math", _MATH),
    ("creative_writing", _CREATIVE),
    ("japanese_culture", _JAPAN),
)


@dataclass(frozen=True)
class Tags:
    """A battle's tags: its first prompt's language and its categories."""

    language: str
    categories: frozenset[str]


# -- language ---------------------------------------------------------------------

_DETECTOR: LanguageDetector | None = None
_DETECTOR_LOCK = threading.Lock()


def detector() -> LanguageDetector:
    """The one lingua detector of this process, built on first use with all its models
    (about 1.2 s and 150 MB for the ten languages).

    lingua holds the GIL while it loads a model, so a model loaded while the app serves
    would freeze every stream for that long: the app builds the detector when its
    :class:`~arena.battles.Arena` is made, before serving, and all models load at once
    (lingua would otherwise load each language's on its first detection).
    """
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            from lingua import IsoCode639_1, LanguageDetectorBuilder

            codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGE_CODES]
            _DETECTOR = (
                LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                .with_preloaded_language_models()
                .build()
            )
        return _DETECTOR


def detect_language(text: str) -> str:
    """The ISO 639-1 code of ``text``'s language, or ``und`` (see the module docstring)."""
    prose = _URL.sub(" ", _FENCE.sub(" ", text)).strip() or text
    found = detector().detect_language_of(prose[:DETECT_CHARS])
    return UNDETERMINED if found is None else found.iso_code_639_1.name.lower()


# -- categories -------------------------------------------------------------------


def topics(prompts: Iterable[str]) -> set[str]:
    """The content categories (coding, math, creative writing, Japan) of ``prompts``."""
    text = "\n".join(prompts)
    return {name for name, rule in _TOPICS if any(part.search(text) for part in rule)}


def categorise(
    prompts: Sequence[str],
    answers: Sequence[tuple[str, str, int]],
    turns: int,
) -> set[str]:
    """A battle's categories by the module's rules.

    Parameters
    ----------
    prompts : sequence of str
        The user's prompts, one per turn.
    answers : sequence of (side, content, tokens)
        Every stored answer, with its token count (:func:`arena.dataset.message_tokens`).
    turns : int
        The battle's user turns.
    """
    found = topics(prompts)
    fenced = {side for side, content, _ in answers if "```" in content}
    if len(fenced) >= 2:
        found.add("coding")
    if turns > 1:
        found.add("multi_turn")
    if any(tokens > LONG_ANSWER_TOKENS for _, _, tokens in answers):
        found.add("long_answer")
    return found


def _answer(m: Message) -> tuple[str, str, int]:
    content = m.content or ""
    side = getattr(m.side, "value", m.side)
    return side, content, message_tokens("assistant", content, m.num_tokens, m.completion_tokens)


def _prompts(rows: Iterable[tuple[int, str]]) -> list[str]:
    """One prompt per turn (both sides store the turn's prompt), in turn order."""
    by_turn: dict[int, str] = {}
    for turn, content in rows:
        by_turn.setdefault(turn, content or "")
    return [by_turn[t] for t in sorted(by_turn)]


def tag_battle(session: Session, battle: Battle) -> Tags:
    """Tag ``battle`` from its messages (stored or just added) and store the tags.

    Everything is worked out before the first statement, so the database is written
    (and on SQLite locked) only for the two statements that replace the tags.
    """
    messages = list(battle.messages)
    prompts = _prompts((m.turn, m.content) for m in messages if m.role == "user")
    answers = [_answer(m) for m in messages if m.role == "assistant"]
    language = battle.prompt_language
    if language is None and prompts:
        language = detect_language(prompts[0])
    found = categorise(prompts, answers, max(battle.turns, len(prompts)))
    battle.prompt_language = language
    _store(session.connection(), battle.id, found)
    return Tags(language or UNDETERMINED, frozenset(found))


def _store(conn: Connection, battle_id: str, found: Iterable[str]) -> None:
    table = BattleCategory.__table__
    conn.execute(delete(table).where(table.c.battle_id == battle_id))
    rows = [{"battle_id": battle_id, "category": c} for c in sorted(found)]
    if rows:
        conn.execute(insert(table), rows)


# -- back-fill --------------------------------------------------------------------


def tag_untagged(conn: Connection, *, retag: bool = False, chunk: int = 500) -> int:
    """Tag the battles that have a prompt but no tags yet (all of them with ``retag``);
    return how many were tagged. Idempotent: a second call finds none left.

    Works on a Core connection (migration 0010 calls it too), ``chunk`` battles per
    round trip; the caller commits. With ``retag`` the language is detected again too.
    """
    b, m = Battle.__table__, Message.__table__
    has_prompt = exists().where(m.c.battle_id == b.c.id, m.c.role == "user")  # on its index
    query = select(b.c.id, b.c.turns).where(has_prompt).order_by(b.c.id)
    if not retag:
        query = query.where(b.c.prompt_language.is_(None))
    done, after = 0, ""
    while True:
        battles = conn.execute(query.where(b.c.id > after).limit(chunk)).all()
        if not battles:
            return done
        ids = [row.id for row in battles]
        rows = conn.execute(
            select(m.c.battle_id, m.c.side, m.c.turn, m.c.role, m.c.content, m.c.num_tokens,
                   m.c.completion_tokens)
            .where(m.c.battle_id.in_(ids))
            .order_by(m.c.battle_id, m.c.turn, m.c.id)
        ).all()  # fmt: skip
        by_battle: dict[str, list] = {i: [] for i in ids}
        for row in rows:
            by_battle[row.battle_id].append(row)
        languages, found = [], []
        for battle_id, turns in battles:
            msgs = by_battle[battle_id]
            prompts = _prompts((r.turn, r.content) for r in msgs if r.role == "user")
            answers = [
                (r.side, r.content or "", message_tokens("assistant", r.content or "",
                                                         r.num_tokens, r.completion_tokens))
                for r in msgs if r.role == "assistant"
            ]  # fmt: skip
            languages.append({"tagged": battle_id, "detected": detect_language(prompts[0])})
            found += [
                {"battle_id": battle_id, "category": c}
                for c in sorted(categorise(prompts, answers, max(turns or 0, len(prompts))))
            ]
        conn.execute(
            update(b)
            .where(b.c.id == bindparam("tagged"))
            .values(prompt_language=bindparam("detected")),
            languages,
        )
        table = BattleCategory.__table__
        conn.execute(delete(table).where(table.c.battle_id.in_(ids)))
        if found:
            conn.execute(insert(table), found)
        done += len(battles)
        after = ids[-1]
