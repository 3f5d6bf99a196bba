"""The admin page's exports: a private folder, each file kept for one download.

:class:`ExportStore` holds the exports the admin page made until their admin downloads
them (once) or they expire; nothing else serves that folder. Apart from the console's
actions (:mod:`arena.admin.console`) because this is files on disk and their lifetime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time as _time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from arena.errors import ConfigError
from arena.export import ExportOptions

if TYPE_CHECKING:  # the console is only named in annotations here
    from arena.admin.console import AdminConsole


logger = logging.getLogger("arena.admin")  # the admin area logs under one name

EXPORT_TTL = 3600.0  # seconds an export waits for its download
EXPORTING = "arena-export-"  # prefix of a folder being written by an export
TICKET = "ticket.json"
_EXPORT_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def default_export_root() -> Path:
    """``arena-admin-exports-UID`` in the system's temporary directory (not Gradio's)."""
    return Path(tempfile.gettempdir()) / f"arena-admin-exports-{os.getuid()}"


def _private_folder(path: Path) -> Path:
    """``path``, made if missing, as a directory only this user can enter; else ConfigError."""
    with suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: the admin exports folder must be a directory (not a link) of this user "
            "with mode 0700"
        )
    return path


def _newest_change(entry: os.DirEntry[str]) -> float:
    """The latest modification time of a folder and the files in it (an export writing)."""
    try:
        times = [entry.stat(follow_symlinks=False).st_mtime]
        if entry.is_dir(follow_symlinks=False):
            times += [f.stat(follow_symlinks=False).st_mtime for f in os.scandir(entry.path)]
    except FileNotFoundError:  # removed meanwhile (a download, another process's sweep)
        return math.inf
    return max(times)


@dataclass(frozen=True)
class Ticket:
    """An export waiting for its one download by ``owner``."""

    id: str
    owner: str
    file: str  # the file's name in its folder
    fmt: str
    rows: int
    sha256: str
    schema_version: int
    expires_at: float  # Unix time

    @classmethod
    def read(cls, folder: Path) -> Ticket | None:
        try:
            ticket = cls(**json.loads((folder / TICKET).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return ticket if Path(ticket.file).name == ticket.file else None


class ExportStore:
    """Exports made in the admin page, kept for one download by the admin who made them.

    ``root`` is a private folder (mode 0700, this user's; by default in the system's
    temporary directory), outside Gradio's cache and allowed paths, so no Gradio app
    serves it. An export is written there by :meth:`AdminConsole.export_to_temp`, then
    published: its folder gets a ``ticket.json`` (owner, file, expiry) and is renamed to
    an unguessable id. :meth:`take` claims it by renaming it again (atomic: one download,
    even between processes sharing ``root``), opens the file and deletes the folder; the
    caller streams the open file. What is not downloaded within ``ttl`` seconds is
    deleted by :meth:`sweep`, run at start, at each export and download, and by a timer
    due when the next waiting export expires.
    """

    def __init__(
        self,
        root: Path | None = None,
        ttl: float = EXPORT_TTL,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.root = _private_folder(root or default_export_root())
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._due = math.inf
        self.sweep()

    def create(
        self, console: AdminConsole, actor: str, fmt: str, options: ExportOptions
    ) -> tuple[Ticket, dict[str, Any]]:
        """Export for ``actor`` and publish it; returns its ticket and manifest."""
        self.sweep()
        out, _, manifest = console.export_to_temp(actor, fmt, options, _private_folder(self.root))
        ticket = Ticket(
            id=secrets.token_urlsafe(32), owner=actor, file=out.name, fmt=fmt,
            rows=manifest["rows"], sha256=manifest["sha256"],
            schema_version=manifest["schema_version"], expires_at=self.clock() + self.ttl,
        )  # fmt: skip
        try:
            (out.parent / TICKET).write_text(json.dumps(asdict(ticket)), encoding="utf-8")
            out.parent.rename(self.root / ticket.id)
        except OSError:
            shutil.rmtree(out.parent, ignore_errors=True)
            raise
        self._schedule(ticket.expires_at)
        return ticket, manifest

    def keep(self, owner: str, name: str, data: bytes, fmt: str, rows: int) -> Ticket:
        """Keep a small file made in the admin page (a gallery) for ``owner``'s one
        download, as an export is kept."""
        self.sweep()
        folder = Path(tempfile.mkdtemp(prefix=EXPORTING, dir=_private_folder(self.root)))
        ticket = Ticket(
            id=secrets.token_urlsafe(32), owner=owner, file=Path(name).name, fmt=fmt,
            rows=rows, sha256=hashlib.sha256(data).hexdigest(), schema_version=0,
            expires_at=self.clock() + self.ttl,
        )  # fmt: skip
        try:
            (folder / ticket.file).write_bytes(data)
            (folder / TICKET).write_text(json.dumps(asdict(ticket)), encoding="utf-8")
            folder.rename(self.root / ticket.id)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._schedule(ticket.expires_at)
        return ticket

    def take(self, owner: str, export_id: str) -> tuple[Ticket, BinaryIO] | None:
        """``owner``'s export ``export_id``: its ticket and the file, open and already
        deleted from disk. None when there is no such export of ``owner``'s (unknown id,
        another admin's, expired, already downloaded)."""
        if not _EXPORT_ID.fullmatch(export_id or ""):
            return None
        ticket = Ticket.read(self.root / export_id)
        if ticket is None or ticket.owner != owner:
            return None
        claimed = self.root / f".taken-{secrets.token_hex(8)}"
        try:
            (self.root / export_id).rename(claimed)
        except OSError:  # claimed by another request, or swept
            return None
        try:
            if ticket.expires_at <= self.clock():
                return None
            return ticket, open(claimed / ticket.file, "rb")  # the caller streams and closes it
        except OSError:
            return None
        finally:
            shutil.rmtree(claimed, ignore_errors=True)
            self.sweep()

    def sweep(self) -> int:
        """Delete expired exports and leftovers (unpublished or claimed folders) older than
        ``ttl``; returns how many were deleted."""
        now, removed, due = self.clock(), 0, []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:  # removed from outside; made again at the next export
            return 0
        for entry in entries:
            ticket = Ticket.read(Path(entry.path)) if _EXPORT_ID.fullmatch(entry.name) else None
            expires = ticket.expires_at if ticket else _newest_change(entry) + self.ttl
            if expires > now:
                due.append(expires)
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)
            removed += 1
        if due:
            self._schedule(min(due))
        return removed

    def _schedule(self, when: float) -> None:
        """Make sure a sweep runs at ``when`` (or earlier)."""
        with self._lock:
            if self._timer is not None:
                if self._due <= when:
                    return
                self._timer.cancel()
            self._due = when
            self._timer = threading.Timer(max(0.1, when - self.clock() + 0.1), self._tick)
            self._timer.daemon = True
            self._timer.start()

    def _tick(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.sweep()
        except OSError as exc:  # in the timer's thread: nobody to raise to
            logger.warning("sweeping admin exports in %s failed: %s", self.root, exc)

    def close(self) -> None:
        """Stop the timer (the exports stay until a sweep or their download)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
