"""What a browser has accepted: the first-visit dialog's version, kept in its storage.

The page stores :func:`consent_version` under :data:`STORAGE_KEY` when the volunteer
accepts the dialog, and asks again when the stored value differs: an operator who changes
the wording (``consent_ja``/``consent_en``) asks every browser again. No Gradio here, so
tests can prepare a browser that has accepted.
"""

from __future__ import annotations

import hashlib

STORAGE_KEY = "tanuki-arena-consent"
#: Bumped when the built-in wording (arena/ui/i18n.py, ``consent_points``) changes.
BUILTIN = "builtin-1"


def consent_version(consent_ja: str = "", consent_en: str = "") -> str:
    """The version of the wording: :data:`BUILTIN` for the built-in one, else a hash."""
    if not consent_ja.strip() and not consent_en.strip():
        return BUILTIN
    digest = hashlib.sha256(f"{consent_ja.strip()}\n\n{consent_en.strip()}".encode()).hexdigest()
    return f"custom-{digest[:16]}"
