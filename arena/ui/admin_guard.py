"""What every handler of the admin page does first and last: check that the request's
logged-in user is a configured admin, and show the console's refusals as Gradio errors;
and the event options that keep the page's endpoints out of the API docs.

Gradio's login guards the page's routes; these checks are the handlers' own, since
``api_visibility="private"`` is not a security boundary (an endpoint still runs when
called by name).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from arena.admin import AdminAuth
from arena.errors import ArenaError

PRIVATE = {"api_visibility": "private"}


def require_admin(auth: AdminAuth, request: gr.Request | None) -> str:
    """The logged-in admin's name; raises ``gr.Error`` for anyone else."""
    user = getattr(request, "username", None)
    if not auth.is_admin(user):
        raise gr.Error("Not authorised: log in as an admin.")
    return str(user)


@contextmanager
def shown_errors() -> Iterator[None]:
    """Refusals from the console as a Gradio error message."""
    try:
        yield
    except ArenaError as exc:
        raise gr.Error(str(exc)) from exc
