"""The admin console's exports: a file for download, a gallery, the export salt.

:class:`ConsoleExports` is the part of :class:`~arena.admin.console.AdminConsole` that
writes files: the public-schema export (``python -m arena export`` and the admin page),
the gallery of chosen battles, an export into a private temporary folder for one
download, and the rotation of the export salt; each is audited like every action.
Apart from the console's other actions because it is the part that touches the disk.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from arena.admin.errors import AdminError
from arena.admin.exports import EXPORTING
from arena.config import Settings
from arena.export import (
    MIN_SALT_CHARS,
    ExportOptions,
    export,
    export_salt,
    manifest_path,
    rotate_salt,
    stored_salt,
)


class ConsoleExports:
    """The console's export actions (mixed into :class:`~arena.admin.console.AdminConsole`)."""

    settings: Settings
    engine: Engine

    if TYPE_CHECKING:  # AdminConsole's, which this is mixed into

        def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None: ...

    def _salt(self) -> str | None:
        """The salt of the exports' judge ids: ARENA_EXPORT_SALT, else the stored one (None
        before the first export: no judge id exists yet)."""
        if len(self.settings.export_salt) >= MIN_SALT_CHARS:
            return self.settings.export_salt
        return None if self.settings.export_salt else stored_salt(self.engine)

    def export(
        self,
        actor: str,
        out: str | Path,
        fmt: str,
        options: ExportOptions,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Export with ARENA_EXPORT_SALT, else the stored salt (made on the first export);
        audited with the filters, rows and checksum."""
        salt = export_salt(self.engine, self.settings.export_salt)
        manifest = export(self.engine, out, fmt, options, salt, progress=progress)
        detail = {k: manifest[k] for k in ("format", "rows", "sha256", "filters")}
        self.audit(actor, "export", manifest["file"], json.dumps(detail))
        return manifest

    def gallery(
        self,
        actor: str,
        *,
        battle_ids: tuple[str, ...] = (),
        per_pair: int = 1,
        models: tuple[str, ...] = (),
        seed: int = 0,
        lang: str = "ja",
    ) -> tuple[list[Any], str, str]:
        """The publication gallery (:mod:`arena.gallery`): the battles shown, the HTML
        page and the Markdown text; audited with the battles' ids."""
        from arena import gallery

        if lang not in gallery.LANGUAGES:
            raise AdminError(f"unknown language {lang!r} (use ja or en)", code="invalid")
        try:
            shown = gallery.choose(
                self.engine, battle_ids=battle_ids, per_pair=per_pair, models=models, seed=seed
            )
        except gallery.GalleryError as exc:
            raise AdminError(str(exc), code="invalid") from exc
        self.audit(actor, "gallery", f"{len(shown)} battles", gallery.summary(shown))
        return shown, gallery.page(shown, lang), gallery.markdown(shown, lang)

    def rotate_export_salt(self, actor: str) -> dict[str, Any]:
        """A new random salt in the database for later exports (audited, value not logged).

        Refused while ARENA_EXPORT_SALT is set: that one is used, not the stored one.
        """
        if self.settings.export_salt:
            raise AdminError(
                "ARENA_EXPORT_SALT is set and takes precedence: change it there instead",
                code="invalid",
            )
        previous = rotate_salt(self.engine)
        self.audit(actor, "rotate_export_salt")
        return {"rotated": True, "previous_salt": previous}

    def export_to_temp(
        self, actor: str, fmt: str, options: ExportOptions, folder: Path | None = None
    ) -> tuple[Path, Path, dict[str, Any]]:
        """Export into a new private directory (mode 0700) under ``folder`` (default: the
        system's temporary directory); the caller removes it when served.

        Returns the file, its manifest file and the manifest.
        """
        tmp = Path(tempfile.mkdtemp(prefix=EXPORTING, dir=folder))
        out = tmp / f"arena-votes-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
        try:
            manifest = self.export(actor, out, fmt, options)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out, manifest_path(out), manifest
