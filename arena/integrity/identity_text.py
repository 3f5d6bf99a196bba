"""Text as :mod:`arena.integrity.identity` compares names: normalised, and mapped back.

Names are looked for in a normalised text (NFKC, casefolded, one space for every
separator, no zero-width characters), so that "ＧＰＴ", "Cl\\u200baude" and "GPT" read the
same; :class:`Alignment` maps a position in that text back to the answer as written, so
the phrase that names a model can be shown as the model wrote it. Kept apart from the
word tables (:mod:`arena.integrity.identity_names`) because it is the one piece of the
detector that knows Unicode rather than language.
"""

from __future__ import annotations

import re
import unicodedata

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


def is_letter(c: str) -> bool:
    """Whether ``c`` is a Latin letter."""
    return c.isascii() and c.isalpha()


def char_kind(c: str) -> str:
    if c.isascii() and c.isalnum():
        return "latin"
    if "\u30a1" <= c <= "\u30fa" or c == "\u30fc":
        return "katakana"
    return "other"


LETTERS = bytes(c if 97 <= c <= 122 else 32 for c in range(256))  # a-z kept, the rest blank
NAME_ENDS = {  # what may not follow a name, by the kind of its last character and specificity
    ("latin", True): "(?![a-z0-9])",
    ("latin", False): "(?![a-z])",  # "calm3", "gpt4o": a version may follow
    ("katakana", True): "(?![ァ-ヺー])",
    ("katakana", False): "(?![ァ-ヺー])",
    ("other", True): "",
    ("other", False): "",
}
