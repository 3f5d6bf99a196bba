"""The public ids' formulas, pinned to values computed outside Python.

Other tests compare exports and imports with ``pseudonym()`` and ``battle_id()``; these
golden values (from ``openssl dgst -sha256 -hmac`` and ``sha256sum``) make sure the
functions themselves are the documented ones (the judge id: docs/data.md), so a change
to either cannot pass unnoticed by changing the expectation with it.
"""

from __future__ import annotations

from arena.export import pseudonym
from arena.import_rows import battle_id

SALT = "a-salt-of-32-characters-or-more!"


def test_judge_id_is_the_prefixed_hmac_sha256_of_the_token() -> None:
    # printf 'voter-token-1' | openssl dgst -sha256 -hmac "$SALT" | cut -c1-24 (of the hex)
    assert pseudonym("voter-token-1", SALT) == "arena_user_9ed4a7462ef27764bb5aa120"
    assert pseudonym("voter-token-1", SALT + "x") != pseudonym("voter-token-1", SALT)


def test_battle_id_keeps_32_hex_digits_and_hashes_anything_else() -> None:
    assert battle_id("ABCDEF0123456789" * 2) == "abcdef0123456789" * 2
    # printf 'question_id:q-1' | sha256sum | cut -c1-32
    assert battle_id("q-1") == "9608ff5491702107b3ec5e26991170dc"
    assert battle_id("12345") == "484fd154e7394ec4d48fee2ceead294b"
