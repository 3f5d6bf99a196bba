"""Names, words, phrase parts and text normalisation for :mod:`arena.integrity.identity`.

- :data:`FAMILIES`: well-known model families and vendors with their usual spellings
  (Latin, katakana, kanji, nicknames); :data:`ORDINARY` and :data:`COMMON`: those that are
  everyday words too.
- :func:`normalise`: the text as names are compared (NFKC, casefolded, one space for every
  separator, no zero-width characters); :class:`Alignment` maps positions of a normalised
  text back to the original, so that a phrase can be returned as written.
- Word tables (first-person words, copulas, verbs of making, words that may or may not
  stand between "I'm" and a name) and the regular-expression parts the rules of
  :mod:`arena.integrity.identity` are built from, with a few text tests (quotes, code,
  the words between "I'm" and a name).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "COMMON",
    "FAMILIES",
    "ORDINARY",
    "PHRASE_CHARS",
    "Alignment",
    "alternation",
    "normalise",
]

#: Well-known model families and vendors, keyed by family, with their usual spellings.
FAMILIES: dict[str, tuple[str, ...]] = {
    "gpt": ("GPT", "ChatGPT", "チャットGPT", "ジーピーティー", "OpenAI", "オープンAI",
            "オープンエーアイ", "チャットジーピーティー", "チャッピー"),
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
#: Spellings in any script that are everyday words too (an animal, a star sign, a bird): a
#: profile line "名前: タヌキ" names the speaker only when the prompt asks about it.
COMMON = ORDINARY | frozenset(
    {
        "ジェミニ",
        "タヌキ",
        "たぬき",
        "狸",
        "ラマ",
        "バード",
        "スワロー",
        "メタ",
        "ミストラル",
        "カラクリ",
    }
    | {"プラモ", "コパイロット"}
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
    return normalise_cased(text).casefold()


def normalise_cased(text: str) -> str:
    """:func:`normalise` before casefolding: where both have the same length (almost always),
    the case of a normalised character is read here, without mapping back to ``text``."""
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
    return text


_COMBINING = "\u3099\u309a\uff9e\uff9f"
# Safe cut points: normalising the pieces separately gives the same text as the whole.
_CUT = re.compile(rf"(?<=[\s。！？!?])(?=[^\W_{_COMBINING}])")
_PIECES: dict[str, str] = {}  # cluster -> NFKC and separator table, memoised


class Alignment:
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


def alternation(words: dict[str, str]) -> str:
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


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# -- word tables for the patterns of arena.integrity.identity (normalised spellings) ---------

#: Japanese first-person words, standard, polite, casual and dialectal, and the assistant's
#: ways to say "this AI". Those spelled in kana and common inside other words ("うち" in
#: "そのうち") count only after a character that is not kana.
JA_I_WORDS = (
    "私", "わたし", "ワタシ", "わたくし", "あたくし", "僕", "ぼく", "ボク", "俺", "おれ", "オレ",
    "自分", "拙者", "小生", "吾輩", "我輩", "わがはい", "おいどん", "当方", "当ai", "本ai",
    "このai", "本アシスタント", "当アシスタント", "このアシスタント", "本ボット", "このボット",
    "このチャットボット", "本チャットボット", "このチャット", "本チャット", "この会話",
)  # fmt: skip
JA_I_KANA = (
    "あたし", "アタシ", "あたい", "うち", "ウチ", "わい", "ワイ", "わし", "ワシ", "おら", "オラ",
    "おいら", "オイラ", "わて", "わらわ", "あっし", "こちら", "われ", "我",
)  # fmt: skip
#: Nouns of "私の…は X": the speaker's name, make-up or origin.
JA_MY_NOUNS = (
    "名前", "お名前", "本名", "名", "正体", "呼び名", "愛称", "ニックネーム", "モデル名",
    "正式名称", "正式名", "中身", "中の人", "ベース", "ベースモデル", "元になったモデル",
    "元のモデル", "基盤", "基盤モデル", "土台", "出身", "生まれ", "親", "親会社", "生みの親",
    "産みの親", "開発元", "開発者", "開発会社", "開発企業", "開発チーム", "作成者", "製作者",
    "制作者", "作者", "作り手", "製造元", "提供元", "所属", "家系", "系統", "系列", "ファミリー",
    "エンジン", "頭脳", "学習元", "設計者", "創造主", "創造者", "作った人", "作った会社",
)  # fmt: skip
#: The subset that reveals the speaker even without 私の (「中の人はGPT-4oです」).
JA_SELF_NOUNS = (
    "名前", "正体", "中身", "中の人", "モデル名", "開発元", "ベースモデル", "開発者", "提供元",
    "生みの親",
)  # fmt: skip
#: What an assistant calls itself (Japanese).
JA_DESC_WORDS = (
    "ai", "アシスタント", "言語モデル", "モデル", "チャットボット", "ボット", "llm", "人工知能",
    "システム", "プログラム", "エージェント", "ロボット", "製品", "サービス",
)  # fmt: skip
#: Verb stems of making and training (Japanese).
JA_MAKE_WORDS = (
    "開発", "作成", "作", "制作", "製作", "訓練", "学習", "構築", "設計", "トレーニング",
    "ファインチューニング", "チューニング", "生み出", "産み出", "提供", "公開", "リリース", "育て",
    "調整", "追加学習", "事前学習", "微調整", "改良", "作り上げ", "教育",
)  # fmt: skip
#: What an assistant calls itself (English).
EN_DESC_WORDS = (
    "ai", "assistant", "model", "language model", "chatbot", "chat bot", "bot", "llm", "system",
    "program", "agent", "product", "creation", "service", "helper",
)  # fmt: skip
#: Verbs of making ("made by X"), deriving ("fine tuned from X") and running ("based on X").
EN_MAKE_WORDS = (
    "made", "developed", "created", "trained", "built", "designed", "produced", "engineered",
    "programmed", "coded", "fine tuned", "finetuned", "pretrained", "pre trained", "powered",
    "released", "launched", "taught", "raised", "bred", "grown", "cooked up", "put together",
    "brought to life", "brought to you", "brought into being", "brought into existence",
    "crafted", "assembled", "constructed", "forged", "spawned", "conceived", "invented",
    "hatched", "shaped", "aligned", "hosted", "served", "deployed", "provided", "offered", "owned",
    "operated", "maintained", "run", "licensed", "published", "open sourced", "backed", "funded",
    "born", "written",
)  # fmt: skip
EN_FROM = (
    "fine tuned", "finetuned", "derived", "distilled", "adapted", "forked", "descended", "evolved",
    "spun off", "spun out", "come", "came", "hail", "hails", "originate", "originated", "stem",
    "stemmed", "spawned", "born", "sprung", "sprang", "built", "trained", "grown", "emerged",
    "hatched",
)  # fmt: skip
EN_ON = ("based", "built", "running", "run", "founded", "hosted", "served", "deployed", "powered")
#: Words that may not stand between "I'm" and a name: negations, prepositions and
#: conjunctions that make the name an object, verbs that start another clause, and
#: adjectives that take a complement ("I'm a fan of Claude", "I'm sure Gemini is ...").
EN_BLOCK = _set(
    """not never no nor neither nothing none nobody than like unlike to with without about
    for from at in into onto against between among vs versus whether if that which who whom
    whose what when where why how because since though although while and or but so yet
    either sure glad happy excited curious interested familiar aware afraid sorry confident
    certain convinced impressed surprised proud able unable gonna fan fans user users
    customer customers subscriber employee former ex rival competitor alternative clone
    similar different same better worse smarter faster slower bigger smaller more less most
    least is are was were be been do does did have has had can could will would should may
    might must think know see use like love prefer want need get told said heard read saw
    learned after before during until talking comparing asking thinking trying going using
    writing reading working"""
)
#: Bridge words that may stand before one preposition: "version of", "powered by".
EN_PREP_HEADS = {
    "of": _set(
        "version part one member instance variant edition build flavor flavour descendant"
        " derivative kind sort type sibling iteration release incarnation child offspring"
        " product creation family series line"
    ),
    "on": frozenset(EN_ON),
    "by": _set(
        "powered made developed created trained built designed backed owned run operated"
        " hosted served provided funded"
    ),
    "as": _set("known referred running serving deployed served listed registered"),
}
EN_ING_OK = frozenset({"running", "being", "thing", "something", "everything", "king", "string"})
EN_ED_OK = _set(
    "called named nicknamed dubbed codenamed based powered trained tuned finetuned pretrained"
    " hosted served deployed branded rebranded renamed designed developed created backed owned"
    " operated licensed"
)
#: Nouns after a name that make it part of another noun ("a Claude fan", "Google Maps").
EN_ROLE_NOUNS = _set(
    """fan fans user users lover lovers person people guy girl boy kid employee employees staff
    engineer engineers developer developers intern researcher researchers scientist expert
    enthusiast customer subscriber shareholder investor account maps search docs drive
    sheets slides photos play store translate lens home chrome android workspace cloud
    scholar news ads analytics calendar mail earth meet classroom alum alumni graduate
    veteran partner reseller recruiter manager office headquarters campus stock shares sign
    horoscope twin twins native constellation clone wrapper killer competitor rival copy
    alternative knockoff imitation impersonator cosplayer like style esque ish inspired
    compatible lookalike wannabe curious obsessed pilled addicted adjacent savvy literate
    friendly certified approved native skeptic skeptics critic critics"""
)


# -- phrase parts: regular expressions over normalised text -----------------------------------


def any_of(words: Sequence[str]) -> str:
    """A regex alternation of ``words`` (already normalised), longest first."""
    return "(?:" + "|".join(re.escape(x) for x in sorted(set(words), key=len, reverse=True)) + ")"


TAIL = (
    r"(?:\s?(?:v?\d[\da-z]*|turbo|mini|pro|flash|ultra|nano|sonnet|opus|haiku|instruct|chat"
    r"|preview|plus|max|large|medium|small|vision|advanced|omni|dpo|jp|lite|lm|llm)(?![\da-z]))*"
)
TAIL_RE = re.compile(TAIL)
CLOSE = r"(?:[」』\"')]|\*\*|__)?"
STOP = r"[^。!?\n]"
KANA = r"[ぁ-ゖァ-ヺー]"
JA_I = rf"(?:{any_of(JA_I_WORDS)}|(?<!{KANA}){any_of(JA_I_KANA)})"
JA_DESC = any_of(JA_DESC_WORDS)
JA_MAKE = any_of(JA_MAKE_WORDS)
JA_PUNCT = r"(?=[。!、,?\s」』〜~…w笑(♪☆★]|$)"
JA_COPULA = (  # standard, polite, casual and dialectal copulas and ways to give one's name
    r"(?:です(?!か)|でーす|でっす|っす|っス|であります|である|になります|[、,]?\s?デス"
    rf"|さ{JA_PUNCT}"
    rf"|だ(?!ったら|ったなら|ろう|としたら|と)[ぁ-ゖ]{{0,3}}{JA_PUNCT}"
    r"|で(?:ございます|ござる|ござい|ごわす|がんす|ござんす|ありんす|やんす|おま|っせ)"
    rf"|で[しち]{JA_PUNCT}|にござ(?:る|います|ります)"
    rf"|じゃ(?![なあね])[ぁ-ゖ]{{0,3}}{JA_PUNCT}|や(?![なく])[ぁ-ゖ]{{0,4}}{JA_PUNCT}"
    rf"|な(?:んです|のです|んだ|のだ|んよ|のよ|んや|んじゃ|の|ん){JA_PUNCT}"
    rf"|(?:ばい|たい|ずら|だら|どす|だす|なり|ナリ){JA_PUNCT}"
    r"|と申(?:します|す(?:者|もの)|し上げます)|(?:と|って)(?:いい|言い)ます"
    rf"|(?:と|って)(?:いう|言う)(?:の|んだ|んです|ん|もん|もの|者)?{JA_PUNCT}"
    r"|(?:と|って|という名前で)呼ばれて(?:います|いる|おります|ます))"
)
JA_SUFFIX = (
    rf"(?:社|さん|ちゃん|くん)?{CLOSE}\s?(?:(?:という|っていう|と呼ばれる|と申す|と名付けられた"
    r"|って名前の|って)(?:名前の|名称の)?|製の|製|の|生まれの?|出身の?|育ちの?|系の|ベースの)?"
    rf"(?:[^\s。、!?]{{0,20}}?{JA_DESC})?\s?{JA_COPULA}"
)
JA_REST = (  # the rest of a development clause: "…AI/Claude です/なので/として"
    rf"(?:[^。!?\nは]|では){{0,30}}?(?:{JA_DESC}|[a-z0-9]|[ァ-ヺー]){CLOSE}\s?"
    rf"(?:{JA_COPULA}|なので|ですので|であり|のため|として(?!知られ|有名|注目|話題|人気)|で[、,])"
)
JA_DEV = (
    r"(?:社|さん)?\s?(?:の(?:研究|開発)?(?:チーム|研究者|エンジニア|研究室|研究所|開発者|技術者)"
    r"(?:たち)?\s?)?"
    rf"(?:(?:によって|により|の手によって|の手で|に|で|にて)\s?(?:{JA_MAKE}(?:され|させ|られ|れ)"
    r"|(?:訓練|学習|トレーニング|教育|開発|指導)を受け)(?:ました|ています"
    rf"|(?:た|ている|ており){JA_REST})"
    rf"|が\s?{JA_MAKE}(?:し|っ|り)?(?:てくれ)?(?:ました|た{JA_REST})"
    rf"|(?:で|から|にて)\s?(?:生まれ|誕生し)(?:ました|た{JA_REST}))"
)
JA_BASE = (
    r"(?:社|さん)?\s?(?:(?:を|の)\s?(?:もと|元|基|ベース|基盤|土台|下敷き)(?:に|と|として)"
    r"|から(?:派生|分岐)|を(?:追加学習|ファインチューニング|微調整|改良|チューニング)し"
    r"|(?:で|を使って|を用いて|の上で)\s?(?:動いて|動作して|稼働して|動いてる)|を搭載"
    r"|(?:で|にて)\s?(?:応答|回答|お答え)(?:して|し|いた))"
)
JA_SELF = (  # 私は… up to the name, with no other topic in between
    rf"{JA_I}め?\)?\s?(?:こそは|こそ|は|ハ|も|が|って|、|,|こと|\?|!)[、,]?\s?"
    r"(?:[^。!?\nは]|では|実は){0,40}$"
)
JA_MY = JA_I  # 私の…: the same words as "I"
#: Negations after a name (…ではない, …じゃありません, Kansai …ちゃう / …ちゃいます).
JA_NEGATIONS = "ではな|ではあり|ではござ|じゃな|じゃあり|じゃね|やな[いく]|ちゃう|ちゃいま"
JA_NOT_NEG = rf"(?!\s?(?:{JA_NEGATIONS}))"
JA_AFTER_NOUN = (  # what follows the name in 私の名前は X / 名前: X
    rf"{TAIL}(?:社|さん)?{CLOSE}{JA_NOT_NEG}\s?(?:{JA_COPULA}|[。!、,\n(]|$|と申|という"
    rf"|っていう|の[^。\n]{{0,10}}{JA_DESC}|製|系|生まれ|出身|で[、,])"
)
JA_GREETING = (
    r"(?:こんにちは|こんばんは|おはようございます|おはよう|はじめまして|初めまして|どうも|やあ"
    r"|ハロー|はろー|ようこそ|やっほー|ヤッホー|おっす|オッス|まいど|毎度|もしもし|お待たせしました"
    r"|名乗り遅れました|申し遅れました)"
)
JA_START = (
    rf"^\s*(?:(?P<greet>(?:(?:{JA_GREETING}|はい|はーい|ええ|うん|もちろん|へい|ども|ちわ)"
    r"[、,!。\s~〜ー]*)+))?"
    r"(?:[^。!?\nは ]{0,25}[の、])?$"
)
JA_SENTENCE = (
    r"(?:^|[。!?\n]\s?)(?:(?:ただ|なお|また|ちなみに|実は|一応|あいにく|残念ながら"
    r"|申し訳ありませんが|申し訳ございませんが)[、,]?\s?)?$"
)
JA_AS = r"として(?!知られ|有名|注目|話題|人気|開発|登場|公開|リリース|提供|発表|初|最初|唯一|世界)"

EN_DESC = any_of(EN_DESC_WORDS)
EN_MAKE = any_of(EN_MAKE_WORDS)
EN_TEAM = (
    r"(?:the (?:team|teams|people|folks|researchers|engineers|developers|scientists|crew)"
    r" (?:at|of|from) )?"
)
EN_WORDS = r"(?P<bridge>(?:,? [a-z0-9][a-z0-9']*){0,%d}?),?"
EN_NOT_SAID = (  # "I'm" that reports someone else's words or a supposition
    r"(?<!if )(?<!whether )(?<!pretend )(?<!imagine )(?<!suppose )(?<!say )(?<!says )"
    r"(?<!said )(?<!claim )(?<!claims )(?<!assume )(?<!assumes )(?<!thought )(?<!thinks )"
)
EN_GREETING = (
    r"(?:hi|hello|hey|yo|greetings|howdy|hiya|heya|sup|oh|ok|okay|sure|alright|well|so|ah"
    r"|hmm|yes|yeah|yep|yup|indeed|right|correct|that's right)(?: there)?"
)
ADDRESSED = re.compile(  # a prompt that asks the assistant about itself
    r"あなた|貴方|貴女|きみ|君は|君の|お前|おまえ|自己紹介|何者|中の人|中身|正体|どなた"
    r"|^\s*(?:だれ|誰|どちら様)[^。\n]{0,6}$|(?<![a-z])(?:who|what) (?:are|r) (?:you|u)(?![a-z])"
    r"|(?<![a-z])(?:yourself|your name|about you|introduce|who am i (?:talking|chatting|speaking)"
    r"|who'?s (?:this|there|speaking)|(?:which|what) (?:ai|model|llm|company|assistant|bot|chatbot"
    r"|kind of [a-z]+)(?: [a-z]+)? (?:are|r) (?:you|u)"
    r"|who (?:made|created|built|trained|developed|designed|owns|runs|makes) you"
    r"|your (?:maker|creator|developer|model|company|vendor|origin|background|profile|bio)"
    r"|are you (?:an? |the )?(?:ai|bot|model|human|real|chatgpt|gpt|claude|gemini|llama))(?![a-z])"
)
SERVICE = re.compile(  # a service offer after a bare self-description
    r"よろしく|なんでも聞いて|何でも聞いて|なんなりと|お手伝い|ご用件|ご質問をどうぞ|ご用命"
    r"|何か(?:お手伝い|ご用|できる)|聞いてちょ|聞いてや|聞いてつかぁさい|何なりと|お申し付け"
    r"|how can i help|how may i help|what can i do for you|ask me anything|ask away"
    r"|nice to meet you|pleased to meet you|at your service|happy to help|glad to help"
    r"|here to help|ready to help|i'll help|i can help|let me help|how can i assist"
    r"|happy to assist|what can i do"
)
ROLEPLAY = re.compile(  # a prompt asking the assistant to speak as someone
    r"(?<![a-z])(?:pretend|imagine you|act as|acting as|act like|role ?play|play the role"
    r"|playing the role|in the role of|in the voice of|in character|persona|impersonate"
    r"|as if you were|as if you are|as though you were|you are now|you're now|from now on you"
    r"|(?:answer|respond|reply|speak|talk|write|introduce yourself|sign(?: it| off)?) (?:as|like)"
    r"|from the perspective of|from the point of view of|on behalf of|signed by"
    r"|in (?:the )?first person)(?![a-z])|(?:^|[.!\n]\s?)(?:you are|you're) (?!an? )[^?.!\n]{1,40}"
    r"(?:[.!\n]|$)|あなたは[^。?\n]{1,30}(?:です|だ)(?:[。!\n]|$)"
    r"|なりき|のふり|のフリ|として(?:答え|振る舞|振舞|ふるま|回答|話し|しゃべ|喋|自己紹介|返事|返答"
    r"|書い|演じ)|の役|を演じ|演じて|ロールプレイ|だと思って|だと仮定|という設定|の設定で"
    r"|のつもりで|キャラ|の口調|の立場で|の視点で|一人称|目線で|に扮し|を装"
)
JA_NEG = re.compile(JA_NEGATIONS)
EN_RETRACT = re.compile(
    r"[^.!?\n]{0,30}?(?:just kidding|\bjk\b|not really|\bkidding\b|but (?:i'm|i am) not\b)"
)
SENTENCE_END = re.compile(r"[。!?\n]")
PLAIN_NEXT = re.compile(  # what may follow an everyday-word name used as a name
    r"(?! [a-z])| (?:and|or|but|an?|the|from|by|here|made|developed|created|trained|built|i"
    r"|ai|assistant|model|language|llm|chatbot|your|at|speaking|version|which|who|that|so"
    r"|not|too|now|in|cooked|reporting|on|out|signing|btw|product|creation|based|powered"
    r"|derived|tuned|as|for|with|to|of|since|under|because|using|through|via|when|while"
    r"|online|again|ready|standing|checking|team|folks|crew)"
    r"(?![a-z])"
)
NEXT_WORD = re.compile(r" ([a-z][a-z']*)")
ARTICLE_END = re.compile(r"(?:^|[ ,])(?:a|an|the),? $")
ARTICLE = re.compile(  # an article whose noun phrase runs up to the name: "an early "
    r"(?<![a-z])(?:a|an|the)(?: (?!(?:by|of|on|as|from|at|in|with|called|named)(?![a-z]))"
    r"[a-z'-]+)*,? ?$"
)
EN_AFTER_ARTICLE = re.compile(
    rf"{TAIL} (?:{EN_DESC}|family|series|variant|version|based|powered)(?![a-z])"
)
QUOTE_PAIRS = (("「", "」"), ("『", "』"), ("“", "”"))
QUOTE_CLOSES = re.compile(r"[.,!?。、]?\s?[」』\"”]")
SINGLE_CLOSES = re.compile(r"[.,!?]?'(?![a-z])")
SINGLE_OPEN = re.compile(r"(?:^|[\s(:=\[])'(?=[a-z0-9]|$)(?:(?!'(?![a-z])).)*$")
# A specific name that is only mentioned: what may stand right after it or right before it.
MENTION_AFTER = re.compile(
    rf"{TAIL}(?:'s(?![a-z])| (?:is|isn't|was|are|were|has|had|have|does|did|can|could|will"
    r"|would|may|might|should|must|ranks?|ranked|scores?|scored|supports?|supported|costs?"
    r"|offers?|outperforms?|outperformed|beats?|handles?|tends?|gets?|uses?|performs?|came"
    r"|comes|became|remains?|seems?|achieves?|leads?|trails?|lags?|excels?|shows?|needs?"
    r"|requires?|provides?|and|or|vs|versus|than|with|which|that|models?|api|pricing|price"
    r"|benchmarks?|release|released|launched|context|tokens?|window|series|family|to)(?![a-z])"
    r"|\s?(?:は|が|も|より|と(?!申|いう|いい|言|呼|して|なり)|や|を|に(?!よ)|では|なら"
    r"|について|に関して|との|vs|、|,|/|の(?!\s?(?:ai|モデル|アシスタント))))"
)
MENTION_BEFORE = re.compile(
    r"(?:(?<![a-z])(?:than|vs|versus|and|or|between|with|like|over|against|including|such as"
    r"|e g|both|use|using|used|try|trying|chose|choose|pick|picked|prefer|recommend|call"
    r"|calling|query|to|about|unlike|compared to|compared with|switch|switched|upgrade"
    r"|upgraded|migrate|migrated|model ?[=:]|at|in|for|into)|[,、と(/|]|vs) ?$"
)
LIST_ITEM = re.compile(  # a list line that names a model: "- Calm3-22b-chat (CyberAgent)"
    rf"{TAIL}(?:\*\*|__)?\s?(?:[:(,\n|]|$)"
)
SIG_DASH = re.compile(r"^\s*(?:[—–―]{1,2}|-{1,2}|~|〜|－|ー{1,2})\s*(?P<rest>\S.*)$")
SIG_INLINE = re.compile(r"(?:^|[.!?。！？)\s])\s*(?:[—–―]{1,2}|--)\s*(?P<rest>[^—–―]{2,60})$")
BULLET = re.compile(r"^\s*(?:[-*•・~〜ー]|\d+[.)])")
CLOSING = re.compile(
    r"^(?:best(?: regards| wishes)?|regards|kind regards|warm regards|warmly|sincerely|yours"
    r"(?: truly| sincerely| faithfully)?|cheers|thanks|thank you|many thanks|with gratitude"
    r"|all the best|take care|love|cordially|respectfully|敬具|草々|かしこ|以上|よろしくお願い"
    r"(?:します|いたします|致します)|それでは|では|またね|ではまた|それではまた|お元気で|signed"
    r"|your (?:friendly |trusty |humble )?(?:ai )?(?:assistant|helper|bot|companion)"
    r"|signing off|until next time|see you|(?:ご|お)?(?:参考|役に立て)(?:になれ|れ)?ば幸いです"
    r"|以上です|以上となります|何かあればお知らせください)[,.!、。]*$"
)
SIG_END = (
    r"(?:社|inc|llc|ltd|pbc)?[.。!]?\s?(?:\([^)]{0,40}\)|,? (?:your|an?|the) [a-z ]{1,30})?[.。!]?"
    r"\s?(?:より|から)?[.。!]?\s?[^\w\s(]{0,3}"
)
SIG_LETTER = r"(?:より|から|拝)[.。!]?"
FOOTER = re.compile(
    r"^[*_(\[]*\s?(?:(?:this|the) (?:answer|response|reply|text|message) (?:was|is) )?"
    r"(?:(?:answer|response|reply|message)s? )?"
    r"(?:generated|written|produced|composed|authored|answered|powered|brought to you|drafted"
    r"|created|provided|sent|replied|responded|translated|summari[sz]ed)?"
    r"(?: automatically)? ?(?:by|with|using|from|via) "
)


def quoted(norm: str, start: int, end: int) -> bool:
    """Whether ``norm[start:end]`` is inside quotation marks opened earlier on its line."""
    before = norm[norm.rfind("\n", 0, start) + 1 : start]
    if SINGLE_CLOSES.match(norm, end) and SINGLE_OPEN.search(before):
        return True  # 'I'm Claude' (an apostrophe inside a word is no quotation mark)
    if not QUOTE_CLOSES.match(norm, end):
        return False
    if before.count('"') % 2:
        return True
    return any(before.rfind(o) > before.rfind(c) for o, c in QUOTE_PAIRS)


def in_code(norm: str, start: int) -> bool:
    """Whether ``norm[start]`` is inside a fenced code block or inline backticks."""
    if "`" not in norm:
        return False
    if norm.count("```", 0, start) % 2:
        return True
    line = norm[norm.rfind("\n", 0, start) + 1 : start]
    return line.count("`") % 2 == 1


def bridge_ok(bridge: str | None) -> bool:
    """Whether the words between "I'm" and a name keep the name as the speaker's."""
    words = IDIOMS.sub(" ", (bridge or "").replace(",", " ")).split()
    for i, word in enumerate(words):
        if word in EN_BLOCK or "n't" in word:
            heads = EN_PREP_HEADS.get(word)
            if heads is None or i == 0 or words[i - 1] not in heads:
                return False
        elif word in EN_PREP_HEADS:
            if i == 0 or words[i - 1] not in EN_PREP_HEADS[word]:
                return False
        elif (len(word) > 4 and word.endswith("ing") and word not in EN_ING_OK) or (
            len(word) > 3 and word.endswith("ed") and word not in EN_ED_OK
        ):
            return False  # "I'm writing about Claude", "I'm impressed by Gemini"
    return True


JA_I_ALL = (*JA_I_WORDS, *JA_I_KANA)
EN_I = (
    "i am", "i'm", "i was", "i've", "i have", "i come", "i came", "i hail", "i originate", "i stem",
    "i belong", "i run", "i operate", "i descend", "i derive", "i evolved", "i sprang", "i emerged",
)  # fmt: skip
JA_TALK = ("話して", "会話して", "やり取りして", "やりとりして", "チャットして", "対話して")
LABEL_NAME = (
    r"名前|お名前|名称|呼び名|愛称|ニックネーム|モデル名|モデル|ai名|正式名称|回答者|回答モデル"
    r"|ベースモデル|ベース|基盤モデル|系統|生成|name|my name|model|model name|assistant"
    r"|assistant name|ai|bot|bot name|identity|codename|code name|i am|who i am|base model"
    r"|underlying model|foundation model|model family|family|engine|generated by|written by"
    r"|answered by|signed|自己紹介|about me|self introduction"
)
LABEL_DEV = (
    r"開発|開発元|開発者|開発会社|開発企業|開発チーム|製作|制作|作成者|作成|製造元|提供|提供元|会社"
    r"|企業|所属|メーカー|運営|developer|developers|developed by|made by|created by|creator"
    r"|creators|maker|company|vendor|provider|organi[sz]ation|trained by|built by|powered by"
    r"|publisher|lab|owner"
)
LABEL = (  # a profile line up to its value: "- **名前**: ", "Name: ", "Developer = "
    r"(?:^|\n)\s?(?:[*+•>#|]\s?|\d+[.)]\s?)*(?:\*\*|__|\*|_)?"
    rf"(?:(?P<dev>{LABEL_DEV})|{LABEL_NAME})(?:\*\*|__|\*|_)?\s?[:=]\s?(?:\*\*|__|\*|_)?\s?$"
)
LABEL_VALUE = (
    rf"{TAIL}(?:社|inc|llc|ltd|pbc|株式会社|さん)?(?:\*\*|__|\*|_)?\s?"
    r"(?:[(][^)\n]{0,40}[)])?\s?(?:[.。!](?=\s?\S)|[.。!]?\s?(?:\n|$|[,、/|]))"
)
IDIOMS = re.compile(  # set phrases that may stand between "I'm" and a name
    r"(?<![a-z])(?:in fact|of course|after all|at heart|at (?:my|the) core|in reality|in truth"
    r"|for real|to be (?:precise|honest|exact|clear|fair))(?![a-z])"
)
SPACED_HINT = re.compile(r" [a-z0-9] [a-z0-9] [a-z0-9] ")
SPACED = re.compile(r"(?<![a-z0-9'])[a-z0-9](?: [a-z0-9]){3,}(?![a-z0-9])")
EN_MY_ORIGIN = (  # "my developer is ", "my training was done by the team at "
    r"(?<![a-z])(?:my|our) (?:(?:own|real|true|actual|official|full|underlying|base|original"
    r"|current|internal|technical|proper|core|parent|model|foundation|foundational|ai"
    r"|language) )*(?:model|models|weights|architecture|backbone|developers?|creators?"
    r"|makers?|trainers?|designers?|builders?|authors?|programmers?|company|provider|vendor"
    r"|lineage|family|roots|origins?|training|pretraining|pre training|fine tuning"
    r"|finetuning|brain|engine|identity|codename|code name|nickname|base|foundation"
    r"|parents?)(?:'s| is| was| are| were| has been| would be| remains| happens to be)?"
    r"(?: (?:actually|really|just|simply|basically|essentially|officially|technically"
    r"|literally|originally|still|definitely))?(?: (?:done|handled|carried out|performed"
    r"|led|run|provided|made|developed|created|built|trained|designed|written|based|derived"
    r"|hosted|owned|supplied|operated|conducted|managed))?(?: (?:by|at|from|on|in|of|with))?"
    rf" {EN_TEAM}(?:the )?,?:? ?$"
)
EN_HERE = (  # after the name: " here", ", at your service", " (Anthropic) here", " speaking"
    rf"{TAIL}(?: (?:ai|assistant|model|bot|chatbot|llm))?(?: (?:from|by|of) [a-z]+(?:'s)?"
    r"|, (?:an?|your|the|[a-z]+'s) [^,.!?\n]{1,50},"
    r"|\s?\([^)\n]{1,30}\))?,? (?:here(?![a-z'])(?! (?:is|are|was|were|has|have|can|does|did"
    r"|will|would|and there|in|on|at|to|for|with|you|we|means|refers|stands|denotes|seems"
    r"|looks|appears|should|could|might|may|must)(?![a-z]))|speaking|at your service"
    r"|in the house|reporting for duty|reporting in|checking in|on the line|on duty"
    r"|signing off|to the rescue|again(?=[!.,]|$)|ready to (?:help|assist)|at the ready"
    r"|standing by|online(?=[!.,]|$))(?![a-z])"
)
EN_MADE_BY = (  # "I was fine tuned from ", "I'm ..., cooked up by the folks at ", "as an AI from "
    rf"(?:(?<![a-z']){EN_NOT_SAID}i(?:'m| am| was|'ve been| have been| had been)"
    rf"{EN_WORDS % 10} (?:{EN_MAKE}(?: up| out| together)?(?: and {EN_MAKE})?"
    rf" (?:by|at|in|within|inside)|{any_of(EN_FROM)} from|{any_of(EN_ON)} (?:on|upon)"
    rf"|{EN_DESC}s? (?:from|by|of))|(?<![a-z'])i(?: (?:originally|actually|really|basically"
    r"|ultimately|technically|essentially|just|proudly|officially|initially))?(?: (?:come"
    r"|came|hail|originate|originated|stem|stemmed|descend|descended|derive|evolved|sprang"
    rf"|emerged) from| (?:run|operate) on| belong to(?: the)?)|(?<![a-z])(?:as|being) an?"
    rf" (?:[a-z]+,? ){{0,4}}?"
    rf"{EN_DESC}s?,? (?:{EN_MAKE}(?: and {EN_MAKE})? (?:by|at)|from|{any_of(EN_ON)} (?:on|upon)))"
    rf" {EN_TEAM}(?:the )?$"
)
EN_MADE_ME = (  # "Anthropic created me", "OpenAI is the company that built me"
    rf"{TAIL}(?:'s (?:team|engineers|researchers|developers|scientists|folks|people))?"
    r"(?: (?:is|are|was|were) (?:the )?(?:one|ones|company|team|lab|people|folks"
    r"|organi[sz]ation|group) (?:that|who|which))?(?: (?:has|have|had))?(?: (?:originally"
    r"|actually|also|initially|first|lovingly|carefully))? (?:developed|created|trained"
    r"|built|designed|programmed|fine tuned|finetuned|made|taught|raised|coded|engineered"
    r"|cooked up|put together|brought|birthed|spawned|released|launched|owns|operates|runs"
    r"|hosts|serves|deployed) me(?![a-z])(?! (?:feel|think|want|wonder|laugh|smile|cry"
    r"|realise|realize|curious|happy|sad|so|very|more|less|a|an|the|do|question"
    r"|reconsider|rethink|excited|nervous|jealous|proud|aware|like|sick|cringe)\b)"
)
HEADER_LABEL = re.compile(  # after "**Claude" in "**Claude:** Sure", "[Claude] Sure"
    r"(?:(?:\*\*|__)?\s?[:>]|\]|'s (?:answer|response|reply|take|thoughts|notes|summary)"
    r"(?![a-z]))"
)
BYLINE = re.compile(  # a first line "By Claude", "Written by Gemini", "From: ChatGPT"
    r"(?:by|written by|generated by|answered by|response from|reply from|from:?|author:?) "
)
REPLY_START = re.compile(  # what a reply opens with after a speaker label (not a definition)
    r"(?:\*\*|__)?\s?(?:$|(?:sure|yes|yeah|no|ok|okay|hi|hello|hey|of course|certainly"
    r"|absolutely|great|thanks|thank you|here|i|i'm|i'd|i'll|i've|let me|let's|well|so|good"
    r"|glad|happy|alright|hmm|oh|ah|sorry|unfortunately|definitely|got it|understood)(?![a-z])"
    r"|はい|こんにちは|了解|もちろん|承知|わかりました|いいえ|ええ|どうも|こちら|私|僕|では"
    r"|それでは|さて|なるほど|ありがとう|おはよう|こんばんは|はじめまして|申し訳)"
)
SIG_PAREN = r"\s?\((?P<inner>[^)]{1,40})\)[.。!]?"  # "Claude (Anthropic)" alone on the last line
HEDGED = (  # a guess about a text, not a statement of who wrote it
    r"(?![^。\n]{0,8}(?:ように|よう|かも|と思|らしい|みたい|でしょう|可能性|か[?？]))"
)
SIG_PREFIX = re.compile(  # "your assistant, " before the name in a signature
    r"(?:your |the )?(?:[a-z]+ ){0,2}(?:assistant|ai|helper|bot|friend|companion|pal),? "
)
EN_FRONTED = (  # a sentence opening "Trained by Google DeepMind, " / "Built on Llama 3, "
    rf"(?:^|[.!?\n]\s?)(?:(?:originally|proudly|lovingly) )?(?:{EN_MAKE}(?: and {EN_MAKE})?"
    rf" (?:by|at|in)|{any_of(EN_FROM)} from|{any_of(EN_ON)} (?:on|upon)) {EN_TEAM}(?:the )?"
    r"(?:[a-z]+(?:'s)? )?$"  # "Trained by Google DeepMind", "Built on Meta's Llama"
)
AGENT_END = re.compile(r"(?:by|at|from|with|on|upon)(?: the)? $")  # "made by ", "built on "
EN_RELATIVE = (  # "I'm an assistant that OpenAI trained", "I am the model Google built"
    rf"(?<![a-z']){EN_NOT_SAID}(?:i am|i'm)(?: just)? (?:an?|the|one) (?:[a-z]+ ){{0,3}}?"
    rf"{EN_DESC}s? (?:that |which |who |whom )?$"
)
