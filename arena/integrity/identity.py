"""Find answers in which a model names itself, so the battle can be left out of the ratings.

A blind battle stays blind only while neither answer says which model wrote it. A plain
substring search over product names flags ordinary answers ("Google Maps", "calmly", "a
swallow", "bombard") and misses other spellings (「クロード」, "ＧＰＴ", "Cl\\u200baude").
Here the text is normalised first, and a family or vendor name counts only inside a phrase
by which the speaker identifies itself.

What :meth:`IdentityDetector.find` flags, all after :func:`normalise`:

1. A *specific* configured name anywhere, on word boundaries: a model's ``name``, its
   ``served_name`` (and the part after the last ``/``) or an alias, if it has a digit or two
   or more tokens and is at least 4 characters long ("Tanuki-8B-dpo-v1.0", "Alpha-Model").
2. Any other name -- the built-in families and vendors of :data:`FAMILIES` with their
   Japanese spellings, one-word configured names and aliases ("Echo", 「タヌキ」) -- only in
   a first-person self-identification: 「私は…です/だ/と申します」「私の名前は…」
   「私は…によって開発された/…が開発した/…製の/…のAIです」「私を開発したのは…」,
   "I am/I'm …", "my name is …", "call me …", "this is …, an AI", "as …, I",
   "I was/I'm … made/developed/trained by …", "as an AI … developed by …", "… created me",
   a "名前: …" / "Name: …" line. A few words may stand between the pronoun and the name
   (never a negation); see the comments over :data:`_RULES` for every pattern.
3. An answer that *opens* by naming itself without a pronoun (「こんにちは！Claudeです。」,
   「はい、Claudeです。」, 「OpenAIが開発したAIアシスタントです。」, "Claude here."). Without
   a greeting or a yes this counts only when no prompt is given or a prompt addresses the
   assistant (あなた, you, ...): 「Googleです。」 may just answer a question.
4. Not leaks: negations ("I am not ChatGPT", 「私はChatGPTではありません」; a Japanese
   sentence that goes on to ではない/ではありません/じゃない is skipped), third-person
   statements ("ChatGPT is a chatbot made by OpenAI"), and in English name patterns a name
   that is also an everyday word written in lower case ("I am calm"; "I'm CALM" counts).
5. Quotations: a match inside quotation marks (「…」, 『…』, "…") is someone else's words;
   a match whose phrase also occurs in a prompt, or that names the same model or family as
   a self-identification inside a prompt (「『私はクロードです』と英訳して」), is ignored.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from arena.config import ModelSpec

__all__ = ["FAMILIES", "IdentityDetector", "normalise"]

#: Well-known model families and vendors, keyed by family, with their usual spellings.
FAMILIES: dict[str, tuple[str, ...]] = {
    "gpt": ("GPT", "ChatGPT", "チャットGPT", "ジーピーティー", "OpenAI", "オープンAI",
            "オープンエーアイ"),
    "claude": ("Claude", "クロード", "Anthropic", "アンソロピック", "アンスロピック"),
    "gemini": ("Gemini", "ジェミニ", "ジェミナイ", "Google", "グーグル", "Bard", "バード",
               "Gemma", "ジェマ", "DeepMind", "ディープマインド", "PaLM"),
    "tanuki": ("Tanuki", "タヌキ", "たぬき", "狸", "松尾研", "松尾研究室", "松尾・岩澤研究室",
               "Matsuo Lab", "Weblab", "東京大学", "東大"),
    "swallow": ("Swallow", "スワロー", "東京科学大学", "東工大", "東京工業大学", "Tokyo Tech",
                "TokyoTech", "Science Tokyo"),
    "llama": ("Llama", "ラマ", "Meta", "メタ", "Meta AI"),
    "plamo": ("PLaMo", "プラモ", "Preferred Networks", "プリファードネットワークス", "PFN",
              "Preferred Elements"),
    "qwen": ("Qwen", "通義千問", "通义千问", "Tongyi", "Alibaba", "アリババ"),
    "mistral": ("Mistral", "ミストラル", "Mixtral", "Mistral AI"),
    "calm": ("CALM", "CyberAgent", "サイバーエージェント"),
    "elyza": ("ELYZA", "イライザ"),
    "karakuri": ("Karakuri", "カラクリ"),
    "llm-jp": ("LLM-jp", "国立情報学研究所"),
    "deepseek": ("DeepSeek", "ディープシーク"),
    "microsoft": ("Microsoft", "マイクロソフト", "Copilot", "コパイロット", "Bing", "Phi-3"),
    "grok": ("Grok", "xAI"),
    "cohere": ("Cohere", "Command R"),
    "rinna": ("rinna", "りんな"),
    "sakana": ("Sakana AI", "サカナAI"),
}  # fmt: skip
#: Family spellings that are also everyday words: in English name patterns ("I am …",
#: "my name is …") they count only when capitalised in the answer.
ORDINARY = frozenset(
    {"bard", "bing", "calm", "cohere", "copilot", "gemini", "grok", "llama", "meta", "mistral"}
    | {"palm", "swallow", "tanuki"}
)
PHRASE_CHARS = 120  # longest phrase find() returns

# -- normalisation --------------------------------------------------------------------------

_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
_DASHES = "-_\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\u30a0\u30fb"
_DROP = str.maketrans("", "", _INVISIBLE)
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BLANKS = "\t\x1f\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_UNIFY = str.maketrans(
    dict.fromkeys(_DASHES + _BLANKS + "\u202f\u205f\u3000", " ")
    | dict.fromkeys(_BREAKS, "\n")
    | dict.fromkeys("\u2018\u2019\u02bc", "'")
)
_UNIFIED = {chr(k): v for k, v in _UNIFY.items() if chr(k) != v}
#: Characters common in Japanese text that NFKC changes, replaced first (same result).
_COMPAT = {c: unicodedata.normalize("NFKC", c) for c in "！？（）：，．…‥％＆＋／～"}
#: Finds which of the characters above a text holds, in one pass (str.replace then only
#: for those: a str.translate or 50 substring tests would take ~100 ns a character).
_SPECIAL = re.compile("[" + re.escape("".join((_INVISIBLE, *_COMPAT, *_UNIFIED))) + "]")
_ASCII_SPECIAL = tuple(c for c in (*_INVISIBLE, *_COMPAT, *_UNIFIED) if c.isascii())
_DOT = re.compile(r"\.(?<=\w\.)(?=\w)")


def normalise(text: str) -> str:
    """Text as names are compared: NFKC, casefolded, one space for every separator.

    Zero-width characters and soft hyphens are removed; hyphens and dashes of all kinds,
    underscores, 「・」, dots between letters or digits and runs of whitespace become one
    space (a run holding a line break becomes one ``\\n``); curly apostrophes become ``'``.
    So "Alpha-Model", "Alpha Model", "alpha_model" and "ＡＬＰＨＡ－ＭＯＤＥＬ" compare equal.
    """
    if text.isascii():
        present = {c for c in _ASCII_SPECIAL if c in text}
    else:
        present = set(_SPECIAL.findall(text))
        for c in present.intersection(_INVISIBLE):
            text = text.replace(c, "")
        if not unicodedata.is_normalized("NFKC", text):
            for c in present.intersection(_COMPAT):  # NFKC of a text: ~130 ns a character
                text = text.replace(c, _COMPAT[c])
            if not unicodedata.is_normalized("NFKC", text):
                text = unicodedata.normalize("NFKC", text)
                present = set(_SPECIAL.findall(text))
    for c in present.intersection(_UNIFIED):
        text = text.replace(c, _UNIFIED[c])
    if "." in text:
        text = _DOT.sub(" ", text)
    while "  " in text:
        text = text.replace("  ", " ")
    if "\n" in text:
        text = text.replace(" \n", "\n").replace("\n ", "\n")
        while "\n\n" in text:
            text = text.replace("\n\n", "\n")
    return text.casefold()


_COMBINING = "\u3099\u309a\uff9e\uff9f"
# Safe cut points: normalising the pieces separately gives the same text as the whole.
_CUT = re.compile(rf"(?<=[\s。！？!?])(?=[^\W_{_COMBINING}])")
_PIECES: dict[str, str] = {}  # cluster -> NFKC and separator table, memoised


class _Alignment:
    """Maps positions of ``normalise(text)`` back to ``text``, computed only when asked.

    The text is cut where normalising the pieces apart gives the same as the whole (after
    blanks or 。 and before a letter): pieces of ~1,024, ~256, then ~64 characters are
    normalised to find the one holding a position, and only that one is mapped character by
    character (a Python loop, too slow for a whole answer).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: dict[int, tuple[int, list[tuple[int, int]]]] = {}  # piece start -> base
        self.lengths: dict[tuple[int, int], int] = {}  # (start, end) -> normalised length

    def original(self, pos: int, end: bool = False) -> int:
        """The text index of the normalised character at ``pos`` (its end if ``end``)."""
        start, stop, base = 0, len(self.text), 0
        for size in (1024, 256, 64):
            if stop - start <= size:
                continue
            while True:
                cut = _CUT.search(self.text, start + size, stop) if start + size < stop else None
                piece = cut.start() if cut else stop
                length = self.lengths.get((start, piece), -1)
                if length < 0:
                    length = self.lengths[start, piece] = len(normalise(self.text[start:piece]))
                if base + length > pos or piece >= stop:
                    stop = piece
                    break
                base += length
                start = piece
        if start not in self.spans:
            self.spans[start] = (base, self._chars(start, stop))
        base, spans = self.spans[start]
        if not spans:
            return start
        k = min(max(pos - base, 0), len(spans) - 1)
        return spans[k][1] if end else spans[k][0]

    def _chars(self, start: int, end: int) -> list[tuple[int, int]]:
        """For each character of ``normalise(text[start:end])`` the text span it came from."""
        text = self.text
        chars: list[str] = []  # after NFKC and the separator table, before dots and blanks
        spans: list[tuple[int, int]] = []
        i = start
        while i < end:
            j = i + 1
            while j < end and (text[j] in _COMBINING or unicodedata.combining(text[j])):
                j += 1
            cluster = text[i:j]
            piece = _PIECES.get(cluster)
            if piece is None:
                piece = unicodedata.normalize("NFKC", cluster.translate(_DROP)).translate(_UNIFY)
                if len(_PIECES) < 65536:
                    _PIECES[cluster] = piece
            for c in piece:
                chars.append(c)
                spans.append((i, j))
            i = j
        for k in range(1, len(chars) - 1):  # dots between word characters, as _DOT does
            if chars[k] == "." and chars[k - 1].isalnum() and chars[k + 1].isalnum():
                chars[k] = " "
        out: list[tuple[int, int]] = []
        blank = False
        for c, span in zip(chars, spans, strict=True):
            if c == " " or c == "\n":  # a run of blanks is one character, as in normalise
                if blank:
                    out[-1] = (out[-1][0], span[1])
                else:
                    out.append(span)
                blank = True
            else:
                blank = False
                out.extend([span] * (1 if c.isascii() else len(c.casefold())))
        return out


# -- patterns, over normalised text -----------------------------------------------------------

_TAIL = (
    r"(?:\s?(?:v?\d[\da-z]*|turbo|mini|pro|flash|ultra|nano|sonnet|opus|haiku|instruct|chat"
    r"|preview|plus|max|large|medium|small|vision|advanced|omni|dpo|jp|lite)(?![\da-z]))*"
)
_CLOSE = r"[」』\"')]?"
_STOP = r"[^。！？!?\n]"
_JA_I = (
    r"(?:私|わたし|ワタシ|わたくし|僕|ぼく|ボク|俺|オレ|あたし|うち|当ai|本ai|このai|こちら"
    r"|(?:本|当|この)アシスタント)"
)
_JA_DESC = (
    r"(?:ai|アシスタント|言語モデル|モデル|チャットボット|ボット|llm|人工知能|システム"
    r"|プログラム|エージェント)"
)
_JA_COPULA = (
    r"(?:です(?!か)|だ(?=[。!、よねぞ\s」』]|$)|な(?:んです|のです|んだ|のだ)|でございます"
    r"|と申します|(?:と|って)(?:いい|言い)ます|になります|である|や(?:で|ねん)"
    r"|(?:という名前で|と)呼ばれて(?:います|いる|おります))"
)
_JA_SUFFIX = (
    rf"(?:社|さん)?{_CLOSE}\s?(?:(?:という|っていう|と呼ばれる|と申す|と名付けられた)"
    rf"(?:名前の|名称の)?|製の|製|の)?(?:[^\s。、!?]{{0,20}}?{_JA_DESC})?\s?"
    rf"{_JA_COPULA}"
)
_JA_STEM = (
    r"(?:開発|作成|作|制作|製作|訓練|学習|構築|設計|トレーニング|ファインチューニング"
    r"|チューニング|生み出|提供|公開|リリース)"
)
_JA_REST = (  # the rest of a development clause: "…AI/Claude です/なので/として"
    rf"(?:[^。!?\nは]|では){{0,30}}?(?:{_JA_DESC}|[a-z0-9]|[ァ-ヺー]){_CLOSE}\s?"
    rf"(?:{_JA_COPULA}|なので|ですので|であり|のため|として(?!知られ|有名|注目|話題|人気)|で[、,])"
)
_JA_DEV = (
    r"(?:社|さん)?\s?(?:の(?:研究|開発)?(?:チーム|研究者|エンジニア|研究室|研究所|開発者|技術者)"
    r"(?:たち)?\s?)?"
    rf"(?:(?:によって|により|の手によって|の手で|で|にて)\s?{_JA_STEM}(?:され|させ|られ|れ)"
    rf"(?:ました|ています|(?:た|ている|ており){_JA_REST})"
    rf"|が\s?{_JA_STEM}(?:し|っ|り)?(?:てくれ)?(?:ました|た{_JA_REST}))"
)
_JA_SELF = (
    rf"{_JA_I}\)?\s?(?:は|も|、|,|こと)\s?(?:[^。!?\nは]|では){{0,40}}$"  # 私は… (no other topic)
)
_JA_NOT_NEG = r"(?!\s?(?:ではな|ではあり|ではござ|じゃな|じゃあり))"
_JA_GREETING = (
    r"(?:こんにちは|こんばんは|おはようございます|はじめまして|初めまして|どうも|やあ"
    r"|ハロー|ようこそ)"
)
_JA_START = (
    rf"^\s*(?:(?P<greet>{_JA_GREETING}|はい|ええ|うん|もちろん)[、,!。\s~〜ー]*)?"
    r"(?:[^。!?\nは ]{0,25}[の、])?$"
)

_EN_DESC = r"(?:ai|assistant|model|language model|chatbot|chat bot|bot|llm|system|program|agent)"
_EN_DEV = (
    r"(?:made|developed|created|trained|built|designed|produced|engineered|programmed"
    r"|fine tuned|finetuned|pretrained|pre trained|powered|released|launched|taught)"
)
_EN_TEAM = r"(?:the (?:team|people|folks|researchers|engineers|developers|scientists) (?:at|of) )?"
_EN_FILL = (
    r"(?:a|an|the|actually|really|indeed|just|simply|in fact|now|currently|officially|called"
    r"|named|known as|also known as|based on|built on|running on|powered by|version|of|part"
    r"|one|latest|newest|new|model|models|ai|assistant|language|large|chatbot|llm|family"
    r"|series|variant|helpful|friendly|multimodal|conversational|virtual|digital|generative"
    r"|system|program|your|[a-z0-9]+'s)"
)
_EN_FILL_DEV = (
    r"(?:a|an|the|large|small|helpful|friendly|harmless|honest|ai|artificial|intelligence"
    r"|language|model|models|multimodal|assistant|chatbot|chat|bot|llm|system|program"
    r"|conversational|virtual|digital|generative|neural|network|open|source|family|of|just"
    r"|simply|actually|only|your|text|based|transformer|that|which|was|has|have|been"
    r"|originally|initially|version|research|experimental|new|latest|advanced|powerful"
    r"|general|purpose|agent|japanese|english|bilingual|one|called|named|known as|and|also"
    r"|here|[a-z0-9]+'s)"
)
_EN_START = r"^\s*(?:(?:hi|hello|hey|greetings)(?: there)?[!,.]*\s)?$"
_ADDRESSED = re.compile(
    r"あなた|貴方|貴女|きみ|君は|君の|お前|おまえ|自己紹介|(?<![a-z])(?:you|your|yourself)(?![a-z])"
)
_JA_NEG = re.compile(r"ではな|ではあり|ではござ|じゃな|じゃあり")
_SENTENCE_END = re.compile(r"[。!?\n]")
_PLAIN_NEXT = re.compile(  # what may follow an everyday-word name used as a name
    r"(?! [a-z])| (?:and|or|but|an?|the|from|by|here|made|developed|created|trained|built|i"
    r"|ai|assistant|model|language|llm|chatbot|your|at|speaking|version|which|who|that|so"
    r"|not|too|now)(?![a-z])"
)
_ARTICLE_END = re.compile(r"(?:^|[ ,])(?:a|an|the),? $")
_EN_AFTER_ARTICLE = re.compile(
    rf"{_TAIL} (?:{_EN_DESC}|family|series|variant|version|based)(?![a-z])"
)
_QUOTE_PAIRS = (("「", "」"), ("『", "』"), ("“", "”"))
_QUOTE_CLOSES = re.compile(r"[.,!?。、]?\s?[」』\"”]")


def _quoted(norm: str, start: int, end: int) -> bool:
    """Whether ``norm[start:end]`` is inside quotation marks opened earlier on its line."""
    if not _QUOTE_CLOSES.match(norm, end):
        return False
    before = norm[norm.rfind("\n", 0, start) + 1 : start]
    if before.count('"') % 2:
        return True
    return any(before.rfind(o) > before.rfind(c) for o, c in _QUOTE_PAIRS)


def _alternation(words: dict[str, str]) -> str:
    """A regex matching any of ``words`` (spelling -> lookahead after it), longest first.

    Built as a trie, so that a position is tried against one branch per character rather
    than against every word.
    """
    trie: dict = {}
    for word, after in words.items():
        node = trie
        for c in word:
            node = node.setdefault(c, {})
        node[""] = after

    def emit(node: dict) -> str:
        branches = [re.escape(c) + emit(child) for c, child in sorted(node.items()) if c]
        if "" in node:
            branches.append(node[""])
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(trie)


@dataclass(frozen=True)
class _Rule:
    """A self-identifying phrase: what stands left of the name and what right of it.

    ``triggers``, ``near`` and ``follows`` are cheap tests that spare most regex searches:
    whenever the rule can match, one of ``triggers`` is among the words found in the 120
    characters before the name, one of ``near`` in the last 24 and one of ``follows`` in
    the 120 after it (words of :data:`_MARKS`, found once per answer).
    """

    left: re.Pattern[str] | None
    right: re.Pattern[str]
    triggers: frozenset[str] = frozenset()
    near: frozenset[str] = frozenset()
    follows: frozenset[str] = frozenset()
    ja: bool = False  # Japanese: skip when the sentence goes on to a negation
    capital: bool = False  # an everyday-word name must be capitalised in the answer
    opening: bool = False  # only at the start of the answer; gated unless it greets


def _rule(
    left: str | None,
    right: str,
    triggers: tuple[str, ...] = (),
    near: tuple[str, ...] = (),
    follows: tuple[str, ...] = (),
    **kw: bool,
) -> _Rule:
    left_re = re.compile(left) if left else None
    words = frozenset(triggers), frozenset(near), frozenset(follows)
    return _Rule(left_re, re.compile(right), *words, **kw)


_JA_I_WORDS = ("私", "わたし", "ワタシ", "わたくし", "僕", "ぼく", "ボク", "俺", "オレ", "あたし")
_JA_I_WORDS += ("うち", "当ai", "本ai", "このai", "こちら", "アシスタント")
_JA_MY = r"(?:私|わたし|わたくし|僕|ぼく)"
_JA_MY_WORDS = ("私", "わたし", "わたくし", "僕", "ぼく")
_EN_I_WORDS = ("i am", "i'm", "i was", "i've", "i have")

_RULES: tuple[_Rule, ...] = (
    # 私はClaudeです / 私はタヌキという名前のAIです / 私ことChatGPT / ボクはジェミニ!
    _rule(_JA_SELF, rf"{_TAIL}(?:{_JA_SUFFIX}|{_CLOSE}(?=[。!]|$))", _JA_I_WORDS, ja=True),
    # 私はOpenAIによって開発されたAIです / 私はGoogleが作ったAIなので
    _rule(_JA_SELF, rf"{_TAIL}{_JA_DEV}", _JA_I_WORDS, ja=True),
    # 私はLlama 3をベースにしています / 本アシスタントはGPT-4oで動いています
    _rule(
        _JA_SELF,
        rf"{_TAIL}(?:社|さん)?\s?(?:(?:を|の)\s?(?:もと|元|基|ベース|基盤)(?:に|と|として)"
        r"|(?:で|を使って|を用いて)\s?(?:動いて|動作して|稼働して))",
        _JA_I_WORDS,
        ja=True,
    ),
    # 私の名前はPLaMo / 私ことChatGPT / 私の開発元はOpenAI / 私を開発したのはAnthropic
    _rule(
        rf"{_JA_MY}(?:こと|の(?:名前|正体|呼び名|モデル名|正式名称|中身|中の人|ベース|ベースモデル"
        r"|開発元|開発者|作成者|製作者|制作者|開発会社|生みの親|開発チーム|提供元|開発企業|作り手)は"
        rf"|を\s?{_JA_STEM}(?:し|っ|り)?(?:てくれ)?た(?:のは|会社は|企業は|組織は|チームは"
        rf"|研究室は|研究所は))\s?{_STOP}{{0,15}}$",
        rf"{_TAIL}{_JA_NOT_NEG}",
        _JA_MY_WORDS,
        ja=True,
    ),
    # OpenAIが私を開発しました / Claudeと呼んでください / Google製のAI、それが私です
    # / Geminiは私の名前です
    _rule(
        None,
        rf"{_TAIL}(?:社|さん)?\s?(?:が|は)\s?{_JA_MY}を\s?{_JA_STEM}",
        follows=_JA_MY_WORDS,
        ja=True,
    ),
    _rule(None, rf"{_TAIL}{_CLOSE}\s?(?:と|って)\s?(?:呼んで|お呼び)", follows=("呼",), ja=True),
    _rule(
        None,
        rf"{_TAIL}(?:{_STOP}{{0,30}}?(?:それが|これが){_JA_MY}|\s?(?:は|が)\s?{_JA_MY}の"
        r"(?:名前|呼び名))(?:です|だ|でございます)",
        follows=_JA_MY_WORDS,
        ja=True,
    ),
    # こんにちは、Claudeです / はい、Claudeです / (あなたは誰?) Anthropicが開発したAIです
    _rule(_JA_START, rf"{_TAIL}{_JA_SUFFIX}", ja=True, opening=True),
    _rule(_JA_START, rf"{_TAIL}{_JA_DEV}", ja=True, opening=True),
    # - 名前: Claude / - Name: Claude (a self-description as a list)
    _rule(
        r"(?:^|\n)\s?(?:[*+•・] ?)?(?:\*\*)?(?:名前|お名前|モデル名|モデル|name|model|model name)"
        r"(?:\*\*)?\s?:\s?(?:\*\*)?$",
        rf"{_TAIL}(?:\*\*)?\s?(?:\n|$)",
        near=(":",),
        capital=True,
    ),
    # I am Claude / I'm an AI assistant called Claude / I'm Google's Gemini model
    _rule(
        rf"(?<![a-z'])(?<!if )(?<!whether )(?:i am|i'm)(?: {_EN_FILL},?){{0,8}} $",
        rf"{_TAIL}(?:'s (?:[a-z]+ ){{0,3}}?{_EN_DESC}(?![a-z])|(?!'s))",
        ("i am", "i'm"),
        capital=True,
    ),
    # my name is Gemini / call me Claude / I go by Gemini / that's me: Claude
    # / you're chatting with Claude
    _rule(
        r"(?<![a-z])(?:my (?:model )?name(?: is|'s)(?: (?:actually|just|simply|officially))?"
        r"|my model is|(?:you can |you may |please |just )?call me|i go by|i identify as"
        r"|i'm known as|(?:that's|that is) me[:,]?|you(?:'re| are) (?:chatting|talking|speaking)"
        r" (?:with|to)) $",
        rf"{_TAIL}(?!'s)",
        ("my ", "call me", "go by", "identify as", "known as", " me", "you'", "you are"),
        capital=True,
    ),
    # This is Gemini, an AI assistant / As ChatGPT, I ... / As an OpenAI model, I ...
    _rule(
        r"(?:^|[.!?\n]\s?|(?:hi|hello|hey)[!,.]?\s)(?:this is|it's|it is) $",
        rf"{_TAIL}(?:,? (?:an?|your) (?:[a-z]+ ){{0,3}}?{_EN_DESC}(?![a-z])| here\b| speaking\b)",
        near=("this is", "it's", "it is"),
        capital=True,
    ),
    _rule(r"(?:^|[.!?\n]\s?)as $", rf"{_TAIL},? i(?![a-z])", near=("as",), capital=True),
    _rule(
        r"(?<![a-z])(?:as|being) an? $",
        rf"{_TAIL}(?: [a-z]+){{0,2}}? {_EN_DESC}s?(?: [a-z]+){{0,3}}?,? i(?![a-z])",
        near=("as a", "being a"),
    ),
    # Claude here! / Hello! Gemini, at your service.
    _rule(
        _EN_START,
        rf"{_TAIL},? (?:here|at your service|speaking)(?![a-z])",
        capital=True,
        opening=True,
    ),
    # I was made by OpenAI / I'm an assistant from Anthropic / As an AI developed by Google
    # / My creators at OpenAI
    _rule(
        rf"(?:(?<![a-z'])(?:i am|i'm|i was|i've been|i have been)(?: {_EN_FILL_DEV},?){{0,10}}"
        rf" (?:{_EN_DEV}(?: and {_EN_DEV})? (?:by|at)|{_EN_DESC}s? (?:from|by))"
        rf"|(?<![a-z])(?:as|being) an? (?:[a-z]+,? ){{0,4}}?{_EN_DESC}s?,?"
        rf" (?:{_EN_DEV}(?: and {_EN_DEV})? by|from)"
        r"|(?<![a-z])my (?:creators?|developers?|makers?|trainers?|designers?"
        rf"|parent company)(?: (?:is|are|were|was|at|from)|,)?) {_EN_TEAM}(?:the )?$",
        _TAIL,
        (*_EN_I_WORDS, "as a", "being a", "my "),
    ),
    # Anthropic created me
    _rule(
        None,
        rf"{_TAIL}(?: (?:has|have|had))? (?:developed|created|trained|built|designed|programmed"
        r"|fine tuned|made) me(?![a-z])(?! (?:feel|think|want|wonder|laugh|smile|cry|realise"
        r"|realize|curious|happy|sad|so|very|more|less)\b)",
        follows=(" me",),
    ),
)
#: The rules worth trying, by (name near the start of the answer, text around it ASCII).
_RULE_SETS = {
    (early, latin): tuple(r for r in _RULES if (early or not r.opening) and not (latin and r.ja))
    for early in (False, True)
    for latin in (False, True)
}
#: The words of the cheap tests, found in one pass around the names (a trie: longest first).
_TRIGGERS = frozenset().union(*(r.triggers for r in _RULES))
_NEAR = frozenset().union(*(r.near for r in _RULES))
_FOLLOWS = frozenset().union(*(r.follows for r in _RULES))
_VOCABULARY = _TRIGGERS | _NEAR | _FOLLOWS
_MARKS = re.compile(_alternation(dict.fromkeys(_VOCABULARY, "")))
#: A word found stands for the shorter words it starts with too ("as a" for "as").
_IMPLIED = {w: frozenset(v for v in _VOCABULARY if w.startswith(v)) for w in _VOCABULARY}
#: Latin words count only as whole words ("as" not in "was", " me" not in " meta"); "as a"
#: and "being a" may go on ("as an").
_WHOLE_START = frozenset(w for w in _VOCABULARY if w.isascii() and w[0].isalpha())
_WHOLE_END = frozenset(
    w for w in _VOCABULARY if w.isascii() and w[-1].isalpha() and not w.endswith(" a")
)


def _letter(c: str) -> bool:
    """Whether ``c`` is a Latin letter."""
    return c.isascii() and c.isalpha()


@dataclass(frozen=True)
class _Name:
    """What a normalised spelling stands for."""

    key: str  # the family ("claude") or the configured model name it identifies
    specific: bool  # counts anywhere, not only in self-identifying phrases
    ordinary: bool  # an everyday word too: English name patterns want it capitalised


def _is_specific(spelling: str) -> bool:
    """Rule 1: a digit, or two or more tokens, and at least 4 characters (normalised)."""
    return len(spelling) >= 4 and (" " in spelling or any(c.isdigit() for c in spelling))


def _kind(c: str) -> str:
    if c.isascii() and c.isalnum():
        return "latin"
    if "\u30a1" <= c <= "\u30fa" or c == "\u30fc":
        return "katakana"
    return "other"


_LETTERS = bytes(c if 97 <= c <= 122 else 32 for c in range(256))  # a-z kept, the rest blank
_AFTER = {  # what may not follow a name, by the kind of its last character and specificity
    ("latin", True): "(?![a-z0-9])",
    ("latin", False): "(?![a-z])",  # "calm3", "gpt4o": a version may follow
    ("katakana", True): "(?![ァ-ヺー])",
    ("katakana", False): "(?![ァ-ヺー])",
    ("other", True): "",
    ("other", False): "",
}


class IdentityDetector:
    """Finds the phrase by which an answer names the model that wrote it (see module doc)."""

    def __init__(self, models: Sequence[ModelSpec]) -> None:
        names: dict[str, _Name] = {}
        for family, spellings in FAMILIES.items():
            for spelling in spellings:
                norm = normalise(spelling)
                names[norm] = _Name(family, False, norm in ORDINARY)
        for spec in models:
            served = spec.served_name
            for spelling in (spec.name, served, served.rsplit("/", 1)[-1], *spec.aliases):
                norm = normalise(spelling).strip()
                if norm:
                    specific = _is_specific(norm)
                    ordinary = not specific and norm.isascii() and norm.isalpha()
                    names[norm] = _Name(spec.name, specific, ordinary)
        self._names = names
        after = {w: _AFTER[_kind(w[-1]), n.specific] for w, n in names.items()}
        self._names_re = re.compile(_alternation(after))
        # Where names may start: Latin ones by whole words (C-speed bytes methods: a regex of
        # all names tried at every position of a long answer is several times slower).
        lettered = [w for w in names if _letter(w[0])]
        self._heads = {w.encode().translate(_LETTERS).split()[0] for w in lettered}
        others = {w: a for w, a in after.items() if not _letter(w[0])}  # 「クロード」, "4o"
        self._others_re = re.compile(_alternation(others)) if others else None
        self._others_ascii = any(w.isascii() for w in others)

    def find(self, answer: str, prompts: Sequence[str] = ()) -> str | None:
        """The phrase by which ``answer`` names the model that wrote it, or None.

        The phrase is cut from ``answer`` as written there (at most ~120 characters).
        ``prompts`` are the user's turns of the conversation: a phrase they contain, or a
        self-identification they quote, is not a leak.
        """
        norm = normalise(answer)
        hits = self._hits(norm)
        if not hits:
            return None
        quoted = [normalise(p) for p in prompts if p]
        addressed = not quoted or any(_ADDRESSED.search(p) for p in quoted)
        align = _Alignment(answer)
        quoted_keys: set[str] | None = None
        for start, end, key, _ in self._matches(norm, hits, answer, align, addressed, True):
            phrase = norm[start:end].strip()
            if any(phrase in p for p in quoted):
                continue
            if quoted:
                if quoted_keys is None:
                    quoted_keys = {k for p in prompts if p for k in self._self_named(p)}
                if key in quoted_keys:
                    continue
            first = align.original(start)
            last = align.original(end - 1, end=True)
            return answer[max(first, last - PHRASE_CHARS) : last].strip()
        return None

    def _self_named(self, prompt: str) -> set[str]:
        """Models and families that ``prompt`` has speak in the first person (a quotation)."""
        norm = normalise(prompt)
        matches = self._matches(norm, self._hits(norm), prompt, _Alignment(prompt), True, False)
        return {key for _, _, key, phrase in matches if phrase}

    def _hits(self, norm: str) -> list[tuple[int, int, _Name]]:
        """Every name in ``norm`` standing as a word of its own: (start, end, name)."""
        starts: list[int] = []
        words = set(norm.encode("ascii", "replace").translate(_LETTERS).split())
        for word in words & self._heads:
            head = word.decode()
            i = norm.find(head)
            while i >= 0:
                starts.append(i)
                i = norm.find(head, i + 1)
        if self._others_re and (self._others_ascii or not norm.isascii()):
            starts.extend(m.start() for m in self._others_re.finditer(norm))
        hits: list[tuple[int, int, _Name]] = []
        done = 0
        for start in sorted(starts):
            m = self._names_re.match(norm, start) if start >= done else None
            if m is None:
                continue
            kind = _kind(norm[start])
            if start and kind != "other" and _kind(norm[start - 1]) == kind:
                continue  # inside a longer word ("bombard", "ドラマ")
            hits.append((start, m.end(), self._names[m.group()]))
            done = m.end()
        return hits

    def _matches(
        self,
        norm: str,
        hits: list[tuple[int, int, _Name]],
        text: str,
        align: _Alignment,
        addressed: bool,
        quotes: bool,
    ) -> Iterator[tuple[int, int, str, bool]]:
        """Each (start, end, key, in a self-identifying phrase) of a leaking name in ``norm``.

        ``addressed``: a prompt speaks to the assistant (or there is none), so an answer may
        open by naming itself without a pronoun; ``quotes``: skip quoted sentences.
        """
        windows: list[list[int]] = []  # the text 120 characters around the names
        for start, end, _ in hits:
            if windows and start - 120 <= windows[-1][1]:
                windows[-1][1] = end + 120
            else:
                windows.append([max(0, start - 120), end + 120])
        marks: list[tuple[int, str]] = []  # words of _MARKS in them, in order
        for a, b in windows:
            for m in _MARKS.finditer(norm, a, b):
                word, p, q = m.group(), m.start(), m.end()
                if not (
                    (word in _WHOLE_START and _letter(norm[p - 1 : p]))
                    or (word in _WHOLE_END and _letter(norm[q : q + 1]))
                ):
                    marks.append((p, word))
        places = [p for p, _ in marks]
        latin = norm.isascii()
        for start, end, name in hits:
            i, j = bisect_left(places, start - 120), bisect_left(places, end + 120)
            before = tail = after = frozenset()
            if i < j:
                for p, word in marks[i:j]:
                    if p < start:
                        before |= _IMPLIED[word]
                        if p >= start - 24:
                            tail |= _IMPLIED[word]
                    elif p >= end:
                        after |= _IMPLIED[word]
            span = None
            if start <= 60 or not (
                _TRIGGERS.isdisjoint(before)
                and _NEAR.isdisjoint(tail)
                and _FOLLOWS.isdisjoint(after)
            ):
                capital = lambda s=start: text[align.original(s)].isupper()  # noqa: E731
                context = _Context(before, tail, after, latin, addressed, quotes, capital)
                span = self._phrase(norm, start, end, name, context)
            if span:
                yield *span, name.key, True
            if name.specific:
                yield start, end, name.key, False

    def _phrase(
        self, norm: str, start: int, end: int, name: _Name, context: _Context
    ) -> tuple[int, int] | None:
        """The span of the first rule that the name at ``norm[start:end]`` satisfies."""
        cut, stop = max(0, start - 120), min(len(norm), end + 120)
        latin = context.latin or (norm[cut:start].isascii() and norm[end:stop].isascii())
        for rule in _RULE_SETS[start <= 60, latin]:
            if (
                (rule.triggers and rule.triggers.isdisjoint(context.before))
                or (rule.near and rule.near.isdisjoint(context.tail))
                or (rule.follows and rule.follows.isdisjoint(context.after))
            ):
                continue
            rm = rule.right.match(norm, end, stop)
            if rm is None:
                continue
            left = start
            if rule.left is not None:
                lm = rule.left.search(norm, 0 if rule.opening else cut, start)
                if lm is None:
                    continue
                if rule.opening and not (context.addressed or lm.groupdict().get("greet")):
                    continue
                if (
                    rule.capital
                    and _ARTICLE_END.search(lm.group())
                    and not _EN_AFTER_ARTICLE.match(norm, end)
                ):
                    continue  # "I am a Gemini" is a zodiac sign, "I am a Gemini model" not
                left = start if rule.opening else lm.start()
            if rule.ja:
                full = _SENTENCE_END.search(norm, rm.end())
                if _JA_NEG.search(norm, rm.end(), full.start() if full else len(norm)):
                    continue
            if rule.capital and norm.startswith("?", rm.end()):
                continue  # "… whether I'm ChatGPT?"
            if (
                rule.capital
                and name.ordinary
                and not (context.capital() and _PLAIN_NEXT.match(norm, rm.end()))
            ):
                continue  # "I am calm", "I am Calm-headed": an everyday word, not a name
            if context.quotes and _quoted(norm, left, rm.end()):
                continue  # 「私はChatGPTです」と答えるでしょう; print("I'm Claude"): not its words
            return left, max(rm.end(), end)
        return None


@dataclass(frozen=True)
class _Context:
    """What :meth:`IdentityDetector._phrase` needs to know about one name in an answer."""

    before: frozenset[str]  # words of _MARKS in the 120 characters before the name
    tail: frozenset[str]  # … in the last 24 before it
    after: frozenset[str]  # … in the 120 after it
    latin: bool  # the whole answer is ASCII
    addressed: bool  # a prompt speaks to the assistant, or there is none
    quotes: bool  # skip quoted sentences
    capital: Callable[[], bool]  # the name is capitalised in the answer
