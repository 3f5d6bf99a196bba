"""Generates the parts of the docs that the code already says: the settings table and the
command line reference. Used by ``cog`` (PyPI ``cogapp``) inside README.md and
docs/admin.md::

    cog -r -I docs README.md docs/admin.md       # rewrite after changing a setting or option
    cog --check -I docs README.md docs/admin.md  # what tests/test_docs.py runs in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterator

from arena.config import SECRET_FIELDS, Settings, env_name

#: Columns of the help text, so the output does not depend on the terminal.
WIDTH = 100


def _default(f: dataclasses.Field) -> str:
    if f.name == "secret":
        return "(random per start)"
    if f.name == "models":
        return "(3 offline demo models)"
    if f.name in SECRET_FIELDS:
        return "(unset)"
    value = f.default
    if value == () or value == "":
        return "(none)"
    return f"`{value}`"


def settings_table() -> str:
    """Markdown: one row per setting, with its environment variable, default and help."""
    rows = [
        "| setting | environment | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for f in dataclasses.fields(Settings):
        env = "—" if f.name == "models" else f"`{env_name(f)}`"
        meaning = f.metadata["help"].replace("|", "\\|")
        rows.append(f"| `{f.name}` | {env} | {_default(f)} | {meaning} |")
    return "\n".join(rows)


def _parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command line parser: ``python -m arena`` and its commands (``recompute``'s
    own parser, :mod:`arena.recompute`'s, with the default settings), then ``python -m
    ratings`` and its commands (``recompute`` an alias of the arena's)."""
    from arena import cli, recompute
    from arena.config import demo_models
    from ratings import cli as ratings_cli

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    arena = cli._parser()
    yield "python -m arena", arena
    for name, parser in commands(arena).items():
        if name == "recompute":  # parsed by arena.recompute (see arena.cli.main)
            parser = recompute._parser(Settings(models=demo_models()))
        yield name, parser
    ratings = ratings_cli._parser()
    yield "python -m ratings", ratings
    yield from commands(ratings).items()


def _with_width() -> None:
    os.environ["COLUMNS"] = str(WIDTH)  # argparse sizes its help from the terminal


def cli_summary() -> str:
    """A fenced block: the usage line of every command, one after the other."""
    _with_width()
    blocks = [parser.format_usage().removeprefix("usage: ").rstrip() for _, parser in _parsers()]
    return "```text\n" + "\n".join(blocks) + "\n```"


def cli_reference() -> str:
    """A fenced block per command with its whole ``--help``."""
    _with_width()
    out = []
    for _, parser in _parsers():
        out += [f"### `{parser.prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    return "\n".join(out).rstrip()
