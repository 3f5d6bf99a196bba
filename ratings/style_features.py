"""Style counts of a battle file's answers, for style control (:mod:`ratings.style`).

Per battle and side, four counts of the side's answers (its assistant messages), in the
order of :data:`ratings.style.STYLE_FEATURES`:

* ``length``: tokens, ``sum_assistant_{a,b}_tokens`` of the row's ``conv_metadata``;
  without it, each answer's ``num_tokens`` where the file gives one, else the estimate
  ceil(UTF-8 bytes / 3) (about one token per Japanese character and one per three or four
  Latin ones; the arena's export uses the same estimate);
* ``headers``: ``header_count_{a,b}`` (``h1`` to ``h6`` added up), else lines opening with
  one to six ``#`` and a space;
* ``lists``: ``list_count_{a,b}`` (``ordered`` and ``unordered``), else lines opening,
  after any indent, with digits, ``.`` and a space, or with ``-``, ``*`` or ``+`` and a
  space;
* ``bold``: ``bold_count_{a,b}`` (``**`` and ``__``), else ``**text**`` and ``__text__``
  spans within one line.

The counting rules are those of LMArena's ``conv_metadata``, and written only here: the
arena's export makes its ``conv_metadata`` with :func:`markdown_elements` and
:func:`estimate_tokens`, so a file with ``conv_metadata`` and the same file without it
give the same counts.
A row's ``conv_metadata`` is used when it has all eight keys; otherwise the row is counted
from its conversations, and a row with neither is refused.

The file is read row by row through the shared reader (:mod:`ratings.battlefile`) and the
rows a fit keeps are chosen as :mod:`ratings.io` chooses them; every kept row's models are
checked against the fit's arrays, so the counts line up with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ratings.battlefile import (
    BattleFileError,
    decode_record,
    detect_format,
    record_unit,
    records,
)
from ratings.battlerow import BattleRowError, normalise
from ratings.errors import InvalidInputError
from ratings.io import BattleArrays

#: Bytes of UTF-8 per estimated token when a message carries no ``num_tokens``.
BYTES_PER_TOKEN = 3
_HEADER = re.compile(r"^(#{1,6})\s", re.MULTILINE)
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_LINES = re.compile(r"__[^_\n]+__")
#: The Markdown elements counted, by kind, as ``conv_metadata`` keys them
#: (``header_count_{side}`` holds the ``header`` ones, ...).
MARKDOWN_KEYS = {
    "header": ("h1", "h2", "h3", "h4", "h5", "h6"),
    "list": ("ordered", "unordered"),
    "bold": ("**", "__"),
}
#: The ``conv_metadata`` keys of side ``{side}``, in feature order.
METADATA_KEYS = (
    "sum_assistant_{side}_tokens",
    "header_count_{side}",
    "list_count_{side}",
    "bold_count_{side}",
)


def estimate_tokens(text: str) -> int:
    """Estimated tokens of a text: ceil(UTF-8 bytes / :data:`BYTES_PER_TOKEN`)."""
    return -(-len(text.encode()) // BYTES_PER_TOKEN)


def markdown_elements(text: str) -> dict[str, dict[str, int]]:
    """Headers by level, list items by kind and bold spans by marker of a text (the rules
    in the module docstring); each pattern runs only when its marker is in the text.

    Parameters
    ----------
    text : str
        One side's answers.

    Returns
    -------
    dict
        ``{"header": {"h1": .., ..., "h6": ..}, "list": {"ordered": .., "unordered": ..},
        "bold": {"**": .., "__": ..}}`` (:data:`MARKDOWN_KEYS`), the values of
        ``conv_metadata``'s ``header_count``, ``list_count`` and ``bold_count``.
    """
    headers = dict.fromkeys(MARKDOWN_KEYS["header"], 0)
    if "#" in text:
        for hashes in _HEADER.findall(text):
            headers[f"h{len(hashes)}"] += 1
    unordered = "-" in text or "*" in text or "+" in text
    return {
        "header": headers,
        "list": {
            "ordered": len(_ORDERED.findall(text)) if "." in text else 0,
            "unordered": len(_UNORDERED.findall(text)) if unordered else 0,
        },
        "bold": {
            "**": len(_BOLD_STARS.findall(text)) if "**" in text else 0,
            "__": len(_BOLD_LINES.findall(text)) if "__" in text else 0,
        },
    }


def markdown_counts(text: str) -> tuple[int, int, int]:
    """Headers, list items and bold spans of a text: :func:`markdown_elements` added up.

    Parameters
    ----------
    text : str
        One side's answers.

    Returns
    -------
    tuple of int
        ``(headers, list items, bold spans)``.
    """
    found = markdown_elements(text)
    return sum(found["header"].values()), sum(found["list"].values()), sum(found["bold"].values())


def conversation_counts(conversation: Sequence[Mapping[str, Any]]) -> list[int]:
    """The four style counts of one side's answers, from its messages.

    Parameters
    ----------
    conversation : sequence of mapping
        ``{role, content[, num_tokens]}`` messages.

    Returns
    -------
    list of int
        ``[tokens, headers, list items, bold spans]``.
    """
    tokens, texts = 0, []
    for message in conversation:
        if message.get("role") != "assistant":
            continue
        content = message.get("content") or ""
        given = message.get("num_tokens")
        tokens += given if type(given) is int else estimate_tokens(content)
        texts.append(content)
    return [tokens, *markdown_counts("\n".join(texts))]


def _total(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value >= 0:
        return int(value)
    if isinstance(value, Mapping):
        parts = [_total(v) for v in value.values()]
        return None if any(p is None for p in parts) else sum(parts)  # type: ignore[misc]
    return None


def metadata_counts(meta: Mapping[str, Any] | None, side: str) -> list[int] | None:
    """The four style counts of ``side`` (``"a"`` or ``"b"``) from ``conv_metadata``, or
    None when a key is missing or not a count (or a mapping of counts)."""
    if not meta:
        return None
    out = []
    for key in METADATA_KEYS:
        value = _total(meta.get(key.format(side=side)))
        if value is None:
            return None
        out.append(value)
    return out


@dataclass(frozen=True)
class StyleCounts:
    """Style counts of each kept battle, aligned with a fit's :class:`~ratings.io.BattleArrays`.

    Parameters
    ----------
    a, b : ndarray of float64, shape (m, 4)
        Counts of side A's and side B's answers (:data:`ratings.style.STYLE_FEATURES`).
    from_metadata, from_text : int
        Kept rows counted from ``conv_metadata`` and from the conversations.
    """

    a: NDArray[np.float64]
    b: NDArray[np.float64]
    from_metadata: int
    from_text: int


def read_style_counts(path: str | Path, battles: BattleArrays) -> StyleCounts:
    """Style counts of the rows of ``path`` that ``battles`` kept.

    Parameters
    ----------
    path : str or Path
        The file ``battles`` was read from.
    battles : BattleArrays
        What :func:`ratings.io.read_outcomes` read from it (its layout and which rows it
        kept are followed).

    Returns
    -------
    StyleCounts

    Raises
    ------
    BattleFileError
        At a row with neither ``conv_metadata`` nor an answer, or a malformed row.
    InvalidInputError
        If the file's rows do not match ``battles`` (the file changed in between).
    """
    file = Path(path)
    fmt = detect_format(file)
    unit = record_unit(fmt)
    side_a: list[list[int]] = []
    side_b: list[list[int]] = []
    from_metadata = 0
    kept = 0
    for where, raw in records(file, fmt):
        try:
            row = normalise(decode_record(raw), battles.schema)
        except BattleRowError as exc:
            raise BattleFileError(str(file), f"{unit} {where}", str(exc)) from None
        if not (row["anony"] or battles.named_kept) or (row["flags"] and not battles.flagged_kept):
            continue
        if kept >= len(battles) or (
            battles.names[battles.a_idx[kept]],
            battles.names[battles.b_idx[kept]],
        ) != (row["model_a"], row["model_b"]):
            raise InvalidInputError(f"{file}: the rows changed while it was read; read it again")
        kept += 1
        meta = row["conv_metadata"]
        a, b = metadata_counts(meta, "a"), metadata_counts(meta, "b")
        if a is not None and b is not None:
            from_metadata += 1
        else:
            if not any(m["role"] == "assistant" for m in row["conversation_a"]) and not any(
                m["role"] == "assistant" for m in row["conversation_b"]
            ):
                raise BattleFileError(
                    str(file),
                    f"{unit} {where}",
                    "style control needs conv_metadata or the conversations; this row has neither",
                )
            a = conversation_counts(row["conversation_a"])
            b = conversation_counts(row["conversation_b"])
        side_a.append(a)
        side_b.append(b)
    if kept != len(battles):
        raise InvalidInputError(f"{file}: the rows changed while it was read; read it again")
    shape = (kept, 4)
    return StyleCounts(
        a=np.array(side_a, dtype=np.float64).reshape(shape),
        b=np.array(side_b, dtype=np.float64).reshape(shape),
        from_metadata=from_metadata,
        from_text=kept - from_metadata,
    )
