"""Writing an export's files safely in a folder others may write to.

Each file is written under a random name created exclusively in the target's folder
(never opening or following what is already there), then renamed onto the target when
complete. An existing file is replaced only with ``force``, and only if it is a regular
file: never a device, FIFO, folder or symbolic link. Used by the export and the gallery.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from arena.export_schema import ExportError

#: Temporary files are hidden files in the target's folder: ``.arena-export-<random>.partial``.
TEMP_PREFIX = ".arena-export-"
_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}.partial"


def check_target(path: Path, *, force: bool = False) -> None:
    """Refuse a target the export must not write: one in a missing folder; an existing
    file unless ``force``; and, even with ``force``, anything but a regular file (a
    device, FIFO, folder, socket or symbolic link, whatever it points to)."""
    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise ExportError(f"cannot write {path}: the folder {folder} {problem}", code="export_path")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise ExportError(
            f"{path} is a symbolic link; not replacing it nor writing through it "
            "(name the file itself)",
            code="export_path",
        )
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise ExportError(f"{path} is {kind}; refusing to replace it", code="export_path")
    if not force:
        raise ExportError(
            f"{path} already exists; not replacing it without --force", code="export_exists"
        )


class StagedFile:
    """A file written under a random name in its target's folder, then renamed onto the
    target in one step (readers never see half a file).

    The name is created with ``O_EXCL | O_NOFOLLOW``: a file or symbolic link already
    there (planted by someone who can write to the folder) is never opened or followed,
    another name is drawn instead. The file is readable by its owner only.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        for _ in range(100):
            self.path = target.parent / _temp_name()
            try:
                fd = os.open(self.path, _TEMP_FLAGS, 0o600)
                break
            except FileExistsError:
                continue
        else:
            raise ExportError(f"no free temporary name in {target.parent}", code="export_io")
        self.file: BinaryIO = os.fdopen(fd, "w+b", buffering=1 << 20)

    def seal(self, sha256: str | None = None) -> tuple[int, str]:
        """Flush to disk and close; return the size and SHA-256 (``sha256`` if known)."""
        f = self.file
        f.flush()
        os.fsync(f.fileno())
        size = os.fstat(f.fileno()).st_size
        if sha256 is None:
            f.seek(0)
            h = hashlib.sha256()
            while block := f.read(1 << 20):
                h.update(block)
            sha256 = h.hexdigest()
        f.close()
        return size, sha256

    def publish(self, *, force: bool) -> None:
        """Move the file onto its target; refuse as :func:`check_target` does.

        Without ``force`` a hard link puts it there only if nothing is (atomically, even
        if a file appeared while the export ran); a file system without hard links gets
        the check and a rename. ``os.replace`` replaces a directory entry, never writes
        through one.
        """
        if not force:
            try:
                os.link(self.path, self.target, follow_symlinks=False)
            except FileExistsError:
                check_target(self.target)  # says what is there
                raise  # a race: it was gone again
            except OSError:
                pass  # no hard links here
            else:
                os.unlink(self.path)
                return
        check_target(self.target, force=force)
        os.replace(self.path, self.target)

    def discard(self) -> None:
        """Close and remove the temporary file (if still there)."""
        self.file.close()
        self.path.unlink(missing_ok=True)
