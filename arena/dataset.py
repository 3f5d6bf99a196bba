"""What an export adds for the field's tools: LMArena's per-battle ``conv_metadata``
and the dataset card (``README.md``) written beside the export and its manifest.

``conv_metadata`` follows the layout of LMArena's arena-human-preference releases, so
FastChat's style control (which sums the per-side token counts and the header, list and
bold counts) and its long-conversation filter (``num_tokens`` per message) run on an
export unchanged. The counts are taken from each side's answers (assistant messages):

* ``header_count_{a,b}``: ``{"h1": .., "h6": ..}``, lines opening with 1-6 ``#`` and a
  space;
* ``list_count_{a,b}``: ``{"ordered": .., "unordered": ..}``, lines opening (after any
  indent) with digits and ``.`` and a space, or with ``-``, ``*`` or ``+`` and a space;
* ``bold_count_{a,b}``: ``{"**": .., "__": ..}``, ``**text**`` and ``__text__`` on one
  line;
* ``sum_assistant_{a,b}_tokens``, ``sum_user_tokens`` (side A's prompts; both sides
  share them), ``context_{a,b}_tokens`` (the side's conversation before its last answer)
  and ``turns``, from the messages' ``num_tokens``.

``num_tokens`` is the count the database holds: an imported file's own, else the
model's reported usage (``completion_tokens``) for an answer, else an estimate:
ceil(UTF-8 bytes / 3), about one token per Japanese character and one per three or four
Latin ones.

The counting rules and the estimate are written once, in :mod:`ratings.style_features`
(:func:`~ratings.style_features.markdown_elements`,
:func:`~ratings.style_features.estimate_tokens`), which style control reads a file's
answers with: an export's ``conv_metadata`` and its conversations give the same counts.

A battle's ``conv_metadata`` never changes once its turn is stored, so the arena keeps it
in ``battles.meta`` then (:func:`with_conv_metadata`, called as each turn is stored) and
an export passes it on as stored, instead of decoding and counting both conversations of
every row (a battle stored without it, before this was done, is counted at export).
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ratings.style_features import estimate_tokens, markdown_elements

#: The first line after the front matter's opening: marks a card an export wrote, which a
#: later export into the same folder may replace.
CARD_MARK = "# dataset card written by tanuki-arena's export"


def style_counts(text: str, side: str) -> dict[str, dict[str, int]]:
    """The Markdown counts of one side's answers, keyed as LMArena's ``conv_metadata``
    (``header_count_a``, ``list_count_a``, ``bold_count_a`` for side ``a``)."""
    return {f"{kind}_count_{side}": counts for kind, counts in markdown_elements(text).items()}


def _tokens(message: Mapping[str, Any]) -> int:
    tokens = message.get("num_tokens")
    return tokens if type(tokens) is int else estimate_tokens(message.get("content") or "")


def conv_metadata(
    conversation_a: Sequence[Mapping[str, Any]], conversation_b: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """LMArena's ``conv_metadata`` of one battle from its two conversations."""
    user = turns = 0
    for m in conversation_a:
        if m["role"] == "user":
            user += _tokens(m)
            turns += 1
    out: dict[str, Any] = {"sum_user_tokens": user, "turns": turns}
    for side, conversation in (("a", conversation_a), ("b", conversation_b)):
        answers, total, before_last, texts = 0, 0, 0, []
        for m in conversation:
            tokens = _tokens(m)
            if m["role"] == "assistant":
                before_last = total  # the context of this (so far the last) answer
                answers += tokens
                texts.append(m["content"])
            total += tokens
        out[f"sum_assistant_{side}_tokens"] = answers
        out[f"context_{side}_tokens"] = before_last
        out.update(style_counts("\n".join(texts), side))
    return out


def message_tokens(role: str, content: str, num_tokens: int | None, completion: int | None) -> int:
    """A stored message's ``num_tokens`` as an export writes it: the file's own count, else
    an answer's reported usage, else :func:`estimate_tokens`."""
    if num_tokens is not None:
        return num_tokens
    if role == "assistant" and completion is not None:
        return completion
    return estimate_tokens(content)


def with_conv_metadata(meta: str | None, messages: Sequence[Any]) -> str:
    """``battles.meta`` (JSON) with the ``conv_metadata`` of a battle's stored messages.

    Parameters
    ----------
    meta : str or None
        The battle's ``meta`` so far (other keys are kept).
    messages : sequence of arena.db.models.Message
        All the battle's messages; each side's are taken in the order of turn, then of
        storing (the order an export writes them in).

    Returns
    -------
    str
        Compact JSON, as an export writes it.
    """
    sides: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    order = sorted(
        enumerate(messages),
        key=lambda item: (item[1].turn, math.inf if item[1].id is None else item[1].id, item[0]),
    )
    for _, m in order:
        side = getattr(m.side, "value", m.side)
        tokens = message_tokens(m.role, m.content or "", m.num_tokens, m.completion_tokens)
        sides[side].append({"role": m.role, "content": m.content or "", "num_tokens": tokens})
    kept = json.loads(meta) if meta else {}
    kept["conv_metadata"] = conv_metadata(sides["a"], sides["b"])
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


# -- the dataset card ----------------------------------------------------------------


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):  # fmt: skip
        if rows < limit:
            return name
    return "n>10M"


def _day(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ours(path: Path) -> bool:
    """Whether ``path`` is a regular file holding a card an export wrote (not a link)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with path.open("rb") as f:
            return f.read(len(CARD_MARK) + 5).decode(errors="replace") == f"---\n{CARD_MARK}\n"
    except OSError:
        return False


def dataset_card(manifest: Mapping[str, Any], license_id: str, excluded: Mapping[str, int]) -> str:
    """The dataset card (Hugging Face's README.md with YAML front matter) of an export:
    its schema, counts, date range, what was left out and the license."""
    counts, filters = manifest["counts"], manifest["filters"]
    license_line = license_id or "unknown"
    languages = sorted(counts.get("languages", {}))
    front = [
        "---",
        CARD_MARK,
        f"license: {license_line}",
        "pretty_name: Tanuki Arena votes",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- chatbot-arena",
        "- human-preference",
        f"size_categories:\n- {_size_category(manifest['rows'])}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        f"  - split: train\n    path: {manifest['file']}",
        "---",
    ]
    winners = ", ".join(f"{k} {v:,}" for k, v in counts["winner"].items()) or "none"
    models = "\n".join(f"| {name} | {n:,} |" for name, n in counts["battles_per_model"].items())
    kept = []
    for key, what in (("include_named", "named-mode battles"), ("include_flagged",
                      "flagged battles (identity, moderation)"), ("include_voided",
                      "voided votes")):  # fmt: skip
        state = "included" if filters.get(key) else f"left out ({excluded.get(key, 0):,})"
        kept.append(f"- {what}: {state}")
    body = [
        "# Tanuki Arena votes",
        "",
        "Pairwise votes from a blind arena of chat models (Japanese and English), in the "
        "public Chatbot Arena battle schema. FastChat's analysis (`elo_analysis.py`: MLE "
        "Elo, bootstrap, style control, long-conversation filter) reads this file as it is.",
        "",
        f"- File: `{manifest['file']}` ({manifest['format']}, {manifest['bytes']:,} bytes, "
        f"SHA-256 `{manifest['sha256']}`); manifest: `{manifest['file']}.manifest.json`",
        f"- Rows: {manifest['rows']:,} (anonymous {counts['anony']:,}, named "
        f"{counts['named']:,}); verdicts: {winners}",
        f"- Votes from {_day(counts.get('first_tstamp'))} to {_day(counts.get('last_tstamp'))}",
        f"- Languages: {', '.join(languages) or 'none'}",
        f"- License: {license_line}",
        f"- Schema version {manifest['schema_version']}, written by {manifest['tool']['name']} "
        f"{manifest['tool']['version']} on {manifest['created_at']}",
        "",
        "## What was left out",
        "",
        *kept,
        "- Reasoning text, raw finish reasons, IP hashes and voter tokens never leave the "
        "database; `judge` is an HMAC pseudonym of the voter.",
        "- Prompts, answers and comments are free text typed by volunteers and models, "
        "published as written: flagged battles are left out unless asked for, and an export "
        "without conversations leaves the comments out too.",
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "| --- | --- | --- |",
        "| question_id | string | the battle's id (an imported battle: its id in the source) |",
        "| model_a, model_b | string | the two models, in the order shown (A left) |",
        "| winner | string | model_a, model_b, tie, tie (bothbad) |",
        "| judge | string | the voter's pseudonym (`arena_user_` + 24 hex digits) |",
        "| conversation_a, conversation_b | list of {role, content, finish_reason, "
        "num_tokens} | each side's messages; num_tokens: see docs/data.md |",
        "| turn | int | prompts in the battle |",
        "| anony | bool | blind battle (names shown only after the vote) |",
        "| language | string | English, Japanese, or as an imported file wrote it |",
        "| tstamp | float | the vote's time, Unix seconds (UTC) |",
        "| conv_metadata | object | LMArena's token and Markdown counts per side |",
        "| category_tag | object or null | an imported battle's category tags |",
        "| flags | list of string | identity, moderation, toxic_chat (flagged rows only) |",
        "| metadata | object | an imported battle's other columns |",
        "| reasons_a, reasons_b | list of string | the volunteer's reason tags for each side "
        "(optional; codes in docs/data.md) |",
        "| comment | string or null | the volunteer's free comment (left out with the "
        "conversations) |",
        "| reactions | list of {turn, side, value} | thumbs up (1) or down (-1) on single "
        "answers after the reveal |",
        "| prompt_source | string or null | typed, or example:<category> (a suggested first "
        "prompt sent unchanged) |",
        "| prompt_language | string or null | the first prompt's language as detected "
        "(Japanese, English, ..., unknown); null: not tagged |",
        "| categories | list of string | coding, math, creative_writing, japanese_culture, "
        "multi_turn, long_answer (rules in arena/categories.py) |",
        "",
        "In the CSV form the list and object columns are JSON text in their cells "
        "(`json.loads` gives them back).",
        "",
        "## Battles per model",
        "",
        "| model | battles |",
        "| --- | ---: |",
        models,
        "",
    ]
    return "\n".join([*front, "", *body])
