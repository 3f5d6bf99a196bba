"""The admin console's Events tab: set up a time-boxed drive and get its link.

An event has a slug (its link is ``/?event=<slug>``), a name, a goal in votes, a start and
a deadline (``YYYY-MM-DD`` or ISO with an offset such as ``2026-12-05T18:00+09:00``; UTC
otherwise) and thank-you texts shown after the deadline (arena/events.py). Saving an
existing slug changes that event.
"""

from __future__ import annotations

import html

import gradio as gr

from arena.admin import AdminAuth, AdminConsole
from arena.admin_api import event_fields
from arena.ui.admin import PRIVATE, require_admin, shown_errors

EVENT_COLUMNS = ("slug", "name", "state", "votes", "goal", "starts_at", "ends_at", "link")


def events_tab(console: AdminConsole, auth: AdminAuth) -> None:
    """The Events tab's form, list and actions."""
    gr.Markdown(
        "Set up an event (a time-boxed drive): volunteers who come by its link see its name, "
        "a gauge of its votes toward the goal and the time left; their battles are tagged "
        "with it until the deadline; afterwards the page thanks them and shows the event's "
        "results. Times: `YYYY-MM-DD` or ISO with an offset (`2026-12-05T18:00+09:00`), UTC "
        "otherwise; a bare date as the deadline means the end of that day. Saving an existing "
        "slug changes that event."
    )
    with gr.Row():
        slug = gr.Textbox(label="Slug (a-z, 0-9, -)", elem_id="admin-event-slug")
        name = gr.Textbox(label="Name", elem_id="admin-event-name", scale=2)
        goal = gr.Number(value=1000, precision=0, minimum=1, label="Goal (votes)",
                         elem_id="admin-event-goal")  # fmt: skip
    with gr.Row():
        starts = gr.Textbox(label="Start", elem_id="admin-event-start")
        ends = gr.Textbox(label="Deadline", elem_id="admin-event-end")
    with gr.Row():
        thanks_ja = gr.Textbox(label="Thank-you text (Japanese)", lines=2,
                               elem_id="admin-event-thanks-ja")  # fmt: skip
        thanks_en = gr.Textbox(label="Thank-you text (English)", lines=2,
                               elem_id="admin-event-thanks-en")  # fmt: skip
    with gr.Row():
        save = gr.Button("Save event", variant="primary", elem_id="admin-event-save")
        delete = gr.Button("Delete event", variant="stop", elem_id="admin-event-delete")
        refresh = gr.Button("Refresh", elem_id="admin-events-refresh")
    link = gr.HTML(elem_id="admin-event-link")
    table = gr.Dataframe(headers=list(EVENT_COLUMNS), interactive=False, elem_id="admin-events")

    def load(request: gr.Request) -> list[list[object]]:
        require_admin(auth, request)
        return [[e[c] for c in EVENT_COLUMNS] for e in console.events()]

    def save_event(s, n, g, st, en, tj, te, request: gr.Request):
        user = require_admin(auth, request)
        with shown_errors():
            fields = event_fields({"slug": s or "", "name": n or "", "goal": int(g or 0),
                                   "starts_at": st, "ends_at": en, "thanks_ja": tj or "",
                                   "thanks_en": te or ""})  # fmt: skip
            event = console.save_event(user, **fields)
        href = html.escape(event["link"])
        page = f'<p>Saved. Link: <a id="admin-event-href" href="{href}">{href}</a></p>'
        return page, load(request)

    def delete_event(s, request: gr.Request):
        user = require_admin(auth, request)
        with shown_errors():
            console.delete_event(user, (s or "").strip())
        return f"<p>Deleted {html.escape(s or '')}.</p>", load(request)

    form = [slug, name, goal, starts, ends, thanks_ja, thanks_en]
    save.click(save_event, form, [link, table], **PRIVATE)
    delete.click(delete_event, [slug], [link, table], **PRIVATE)
    refresh.click(load, None, [table], **PRIVATE)
