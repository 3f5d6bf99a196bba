"""The arena's error hierarchy: each error keeps its cause and carries a message for people."""

from __future__ import annotations


class ArenaError(Exception):
    """Base of every error the arena raises on purpose.

    ``code`` names the situation so the UI can say it in the volunteer's language;
    ``params`` fill the translated message. The English message is for logs and the API.
    """

    def __init__(self, message: str, *, code: str = "error", **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


class ConfigError(ArenaError):
    """The configuration is unusable; the message names the file, the key and the problem."""


class BackendError(ArenaError):
    """A model backend failed.

    ``retryable`` says whether the same request may succeed if sent again (connection
    failures, 429, 5xx before any token). ``kind`` is a short machine-readable reason
    stored with the message row (``timeout``, ``http_500``, ``stream_error``, ...).
    """

    def __init__(self, message: str, *, retryable: bool, kind: str = "error") -> None:
        super().__init__(message, code="backend")
        self.retryable = retryable
        self.kind = kind


class VoteRejected(ArenaError):
    """A vote was refused (unknown battle, not finished, already voted, wrong voter...)."""


class BattleRejected(ArenaError):
    """A prompt or battle action was refused (empty or too long prompt, turn limit...)."""


class StorageError(ArenaError):
    """The database could not be reached or refused a write."""
