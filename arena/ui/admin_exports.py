"""The admin page's tabs that let data out or delete it: the export of votes (kept for
one download from ``/admin/exports/{id}``, never handed to Gradio), the publication
gallery, and deleting one voter's data.

Each handler checks the admin first (:mod:`arena.ui.admin_guard`); its parameters are
named after the components whose values they receive.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import gradio as gr

from arena.admin import AdminAuth, AdminConsole, ExportStore
from arena.export import ExportOptions, parse_moment
from arena.ui.admin_guard import PRIVATE, require_admin, shown_errors


def export_tab(console: AdminConsole, auth: AdminAuth, exports: ExportStore) -> None:
    with gr.Row():
        fmt = gr.Radio(["jsonl", "json", "csv", "parquet"], value="jsonl", label="Format")
        since = gr.Textbox(label="Votes from (UTC, YYYY-MM-DD)")
        until = gr.Textbox(label="Votes until (inclusive)")
        models = gr.Textbox(label="Only battles between these models (comma-separated)")
    with gr.Row():
        named = gr.Checkbox(label="Include named-mode battles")
        flagged = gr.Checkbox(label="Include flagged battles")
        voided = gr.Checkbox(label="Include voided votes")
        convs = gr.Checkbox(value=True, label="Include conversations")
    go = gr.Button("Export", variant="primary", elem_id="admin-export")
    link = gr.HTML(elem_id="admin-download")
    summary = gr.JSON(label="Manifest", elem_id="admin-manifest")

    def run(
        fmt: str, since: str | None, until: str | None, models: str | None, named: bool,
        flagged: bool, voided: bool, convs: bool, request: gr.Request,
    ) -> tuple[str, dict]:  # fmt: skip
        user = require_admin(auth, request)
        with shown_errors():
            options = ExportOptions(
                since=parse_moment(since or None), until=parse_moment(until or None, end=True),
                models=tuple(x.strip() for x in (models or "").split(",") if x.strip()),
                include_named=named, include_flagged=flagged, include_voided=voided,
                conversations=convs,
            )  # fmt: skip
            ticket, manifest = exports.create(console, user, fmt, options)
        until_utc = datetime.fromtimestamp(ticket.expires_at, UTC).strftime("%H:%M UTC")
        name = html.escape(ticket.file)
        # Relative to the page (/admin/): the download route of mount_admin, not a Gradio file.
        anchor = (
            f'<a id="admin-export-link" href="exports/{ticket.id}" download="{name}">'
            f"Download {name}</a> ({ticket.rows} rows; one download, until {until_utc})"
        )
        return anchor, manifest

    inputs = [fmt, since, until, models, named, flagged, voided, convs]
    go.click(run, inputs, [link, summary], **PRIVATE)
    gallery_block(console, auth, exports)


def gallery_block(console: AdminConsole, auth: AdminAuth, exports: ExportStore) -> None:
    """The publication gallery: chosen battles side by side, an HTML page and a Markdown
    file, each kept for one download like an export (docs/data.md)."""
    gr.Markdown("### Gallery for publication")
    with gr.Row():
        ids = gr.Textbox(label="Battle ids (comma-separated; empty: at random per pair)")
        per_pair = gr.Number(value=1, precision=0, minimum=1, label="Battles per pair")
        seed = gr.Number(value=0, precision=0, label="Seed")
        lang = gr.Radio(["ja", "en"], value="ja", label="Language")
    go = gr.Button("Make gallery", elem_id="admin-gallery")
    links = gr.HTML(elem_id="admin-gallery-links")

    def make(
        ids: str | None, per_pair: float | None, seed: float | None, lang: str,
        request: gr.Request,
    ) -> str:  # fmt: skip
        user = require_admin(auth, request)
        with shown_errors():
            shown, page, text = console.gallery(
                user, battle_ids=tuple(x.strip() for x in (ids or "").split(",") if x.strip()),
                per_pair=int(per_pair or 1), seed=int(seed or 0), lang=lang,
            )  # fmt: skip
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            made = [
                exports.keep(user, f"arena-gallery-{stamp}.{kind}", data.encode(), kind, len(shown))
                for kind, data in (("html", page), ("md", text))
            ]
        return (
            " · ".join(
                f'<a class="admin-gallery-link" href="exports/{t.id}" '
                f'download="{html.escape(t.file)}">Download {html.escape(t.file)}</a>'
                for t in made
            )
            + f" ({len(shown)} battles; one download each)"
        )

    go.click(make, [ids, per_pair, seed, lang], [links], **PRIVATE)


def privacy_tab(console: AdminConsole, auth: AdminAuth) -> None:
    gr.Markdown(
        "Delete everything of one voter (battles, messages, votes). Give the `judge` id "
        "shown in exports (`arena_user_...`) or the voter's browser token. Recompute the "
        "ratings afterwards."
    )
    voter = gr.Textbox(label="Voter (judge id or token)", elem_id="admin-voter")
    sure = gr.Checkbox(label="I understand this cannot be undone")
    go = gr.Button("Delete this voter's data", variant="stop", elem_id="admin-delete")
    result = gr.JSON(label="Deleted")

    def delete(voter: str | None, confirmed: bool, request: gr.Request) -> dict:
        user = require_admin(auth, request)
        if not confirmed:
            raise gr.Error("Tick the confirmation first.")
        with shown_errors():
            return console.delete_voter(user, voter or "")

    go.click(delete, [voter, sure], [result], **PRIVATE)
