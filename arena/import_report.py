"""What an import did, and the error that says it was rolled back.

:class:`ImportReport` counts the rows read, imported, repeated, refused (with their line
or row numbers and reasons, grouped) and flagged; :mod:`arena.importer` fills it and
:mod:`arena.import_load` adds what it stored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from arena.errors import ArenaError

MAX_PROBLEMS = 10_000


class ImportFailed(ArenaError):
    """The import was rolled back; ``report`` says what was read before it stopped."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message, code="import_failed")
        self.report = report


@dataclass
class ImportReport:
    """What an import did. ``problems`` keeps the first :data:`MAX_PROBLEMS` refusals."""

    file: str
    unit: str = "line"  # how rows are numbered: "line" (JSONL, CSV) or "row"
    schema: str = ""
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refused: int = 0
    #: Imported rows by flag (``moderation``, ``toxic_chat``): stored as flagged battles.
    flagged: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str]] = field(default_factory=list)
    models_created: list[str] = field(default_factory=list)
    voters_created: int = 0
    bulk: bool = False  # indexes rebuilt after the load (see import_file)
    committed: bool = False

    def refuse(self, where: int, reason: str) -> None:
        self.refused += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((where, reason))

    def summary(self) -> str:
        state = "committed" if self.committed else "nothing written (rolled back)"
        flagged = sum(self.flagged.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.flagged.items()))
        flags = f", {flagged} of them flagged ({kinds}; left out of ratings)" if flagged else ""
        return (
            f"{self.file} ({self.schema or 'unknown'} layout): {self.rows} rows read: "
            f"{self.imported} imported{flags}, {self.duplicates} duplicates skipped, "
            f"{self.refused} refused; {state}"
        )

    def grouped(self, shown: int = 20) -> list[tuple[str, int, list[int]]]:
        """The refusals by reason, most frequent first: ``(reason, count, the first
        ``shown`` line or row numbers)`` (counted among the kept :attr:`problems`)."""
        by_reason: dict[str, list[int]] = {}
        for where, reason in self.problems:
            by_reason.setdefault(reason, []).append(where)
        ordered = sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[1][0]))
        return [(reason, len(where), where[:shown]) for reason, where in ordered]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "schema": self.schema,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "flagged": dict(self.flagged),
            "refusals": [
                {"reason": reason, "rows": n, f"{self.unit}s": where}
                for reason, n, where in self.grouped()
            ],
            "problems": [{self.unit: w, "reason": r} for w, r in self.problems],
            "models_created": self.models_created,
            "voters_created": self.voters_created,
            "bulk": self.bulk,
            "committed": self.committed,
        }
