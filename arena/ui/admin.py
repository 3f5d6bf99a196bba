"""The admin console page (mounted at ``/admin`` behind Gradio's login, never linked from
the volunteer page): battles, one battle's conversation, voiding votes, models, today's
figures, export and deleting a voter's data (arena/ui/admin_exports.py), recomputing,
flags, events (arena/ui/admin_events.py) and the audit log.

The page never hands a file to Gradio (Gradio serves the files of any event from every
app of the server): an export waits in the :class:`ExportStore` and the page shows a link
to its one download from ``/admin/exports/{id}``.

Gradio's login guards the page's routes, and every handler checks again that the
request's logged-in user is a configured admin before calling :class:`AdminConsole`
(arena/ui/admin_guard.py).
A handler's parameters are named after the components whose values they receive.
"""

from __future__ import annotations

import functools
import json

import gradio as gr

from arena.admin import AdminAuth, AdminConsole, BattleFilter, ExportStore
from arena.export import parse_moment
from arena.ui.admin_exports import export_tab, privacy_tab
from arena.ui.admin_guard import PRIVATE, require_admin, shown_errors

BATTLE_COLUMNS = (
    "created_at", "id", "mode", "status", "model_a", "model_b", "winner", "voided",
    "flag_identity", "flag_moderation", "voter",
)  # fmt: skip
YES_NO = ["any", "yes", "no"]


def _yes_no(value: str | None) -> bool | None:
    return None if value in (None, "any") else value == "yes"


def _battles_tab(console: AdminConsole, auth: AdminAuth) -> None:
    with gr.Row():
        model = gr.Dropdown(label="Model", choices=[], allow_custom_value=True, scale=2)
        since = gr.Textbox(label="From (UTC, YYYY-MM-DD)")
        until = gr.Textbox(label="Until (inclusive)")
    with gr.Row():
        flagged = gr.Radio(YES_NO, value="any", label="Flagged")
        failed = gr.Radio(YES_NO, value="any", label="Failed")
        voted = gr.Radio(YES_NO, value="any", label="Voted")
        limit = gr.Number(value=100, precision=0, minimum=1, maximum=500, label="Rows")
    search = gr.Button("Search", variant="primary", elem_id="admin-search")
    table = gr.Dataframe(headers=list(BATTLE_COLUMNS), interactive=False, elem_id="admin-battles")
    with gr.Row():
        battle_id = gr.Textbox(label="Battle id", elem_id="admin-battle-id", scale=3)
        show = gr.Button("Show", elem_id="admin-show")
    info = gr.JSON(label="Battle", elem_id="admin-battle")
    with gr.Row():
        side_a = gr.Chatbot(label="Model A", elem_id="admin-side-a", height=360)
        side_b = gr.Chatbot(label="Model B", elem_id="admin-side-b", height=360)
    with gr.Row():
        reason = gr.Textbox(label="Reason for voiding", scale=3)
        void = gr.Button("Void vote", variant="stop", elem_id="admin-void")
        unvoid = gr.Button("Restore vote", elem_id="admin-unvoid")
    status = gr.Markdown(elem_id="admin-status")

    def list_battles(
        model: str | None, since: str | None, until: str | None, flagged: str | None,
        failed: str | None, voted: str | None, limit: float | None, request: gr.Request,
    ) -> tuple[dict, dict]:  # fmt: skip
        require_admin(auth, request)
        with shown_errors():
            rows = console.battles(
                BattleFilter(
                    model=model or None, since=parse_moment(since or None),
                    until=parse_moment(until or None, end=True), flagged=_yes_no(flagged),
                    failed=_yes_no(failed), voted=_yes_no(voted), limit=int(limit or 100),
                )
            )  # fmt: skip
        names = [x["name"] for x in console.models()]
        data = [[row[c] for c in BATTLE_COLUMNS] for row in rows]
        return gr.update(value=data), gr.update(choices=names)

    def show_battle(
        battle_id: str | None, request: gr.Request
    ) -> tuple[dict, list[dict], list[dict]]:
        user = require_admin(auth, request)
        with shown_errors():
            battle = console.battle(user, (battle_id or "").strip())
        messages = battle.pop("messages")
        sides = [
            [{"role": m["role"], "content": m["content"] or f"({m['error'] or 'empty'})"}
             for m in messages if m["side"] == side]
            for side in ("a", "b")
        ]  # fmt: skip
        battle["messages"] = [{k: v for k, v in m.items() if k != "content"} for m in messages]
        return battle, sides[0], sides[1]

    def set_void(
        battle_id: str | None, reason: str | None, request: gr.Request, *, voided: bool
    ) -> str:
        user = require_admin(auth, request)
        with shown_errors():
            if voided:
                done = console.void_vote(user, (battle_id or "").strip(), reason)
            else:
                done = console.unvoid_vote(user, (battle_id or "").strip())
        word = "voided" if done["voided"] else "restored"
        return f"The vote of `{done['battle']}` is {word}."

    def select_row(selected: gr.SelectData, request: gr.Request) -> str:
        require_admin(auth, request)
        row = selected.row_value or []
        return row[1] if len(row) > 1 else ""

    filters = [model, since, until, flagged, failed, voted, limit]
    search.click(list_battles, filters, [table, model], **PRIVATE)
    show.click(show_battle, [battle_id], [info, side_a, side_b], **PRIVATE)
    table.select(select_row, None, [battle_id], **PRIVATE)

    def void_vote(battle_id: str | None, reason: str | None, request: gr.Request) -> str:
        return set_void(battle_id, reason, request, voided=True)

    def unvoid_vote(battle_id: str | None, reason: str | None, request: gr.Request) -> str:
        return set_void(battle_id, reason, request, voided=False)

    void.click(void_vote, [battle_id, reason], [status], **PRIVATE)
    unvoid.click(unvoid_vote, [battle_id, reason], [status], **PRIVATE)


def _models_tab(console: AdminConsole, auth: AdminAuth) -> None:
    table = gr.Dataframe(
        headers=["name", "provider", "enabled", "demo"], interactive=False, elem_id="admin-models"
    )
    with gr.Row():
        name = gr.Dropdown(label="Model", choices=[], allow_custom_value=True, scale=3)
        enable = gr.Button("Enable", elem_id="admin-enable")
        disable = gr.Button("Disable", variant="stop", elem_id="admin-disable")
        refresh = gr.Button("Refresh")

    def load(request: gr.Request) -> tuple[dict, dict]:
        require_admin(auth, request)
        rows = console.models()
        data = [[m["name"], m["provider"], m["enabled"], m["demo"]] for m in rows]
        return gr.update(value=data), gr.update(choices=[m["name"] for m in rows])

    def toggle(model: str | None, request: gr.Request, *, on: bool) -> tuple[dict, dict]:
        user = require_admin(auth, request)
        with shown_errors():
            console.set_model_enabled(user, model or "", on)
        return load(request)

    def turn_on(model: str | None, request: gr.Request) -> tuple[dict, dict]:
        return toggle(model, request, on=True)

    def turn_off(model: str | None, request: gr.Request) -> tuple[dict, dict]:
        return toggle(model, request, on=False)

    refresh.click(load, None, [table, name], **PRIVATE)
    enable.click(turn_on, [name], [table, name], **PRIVATE)
    disable.click(turn_off, [name], [table, name], **PRIVATE)


def _today_tab(console: AdminConsole, auth: AdminAuth) -> None:
    refresh = gr.Button("Refresh", elem_id="admin-today-refresh")
    totals = gr.JSON(label="Today (UTC)", elem_id="admin-today")
    per_model = gr.Dataframe(headers=["model", "battles", "failed", "votes"], interactive=False)

    def load(request: gr.Request) -> tuple[dict, list[list[object]]]:
        require_admin(auth, request)
        figures = console.today()
        rows = [[m, d["battles"], d["failed"], d["votes"]] for m, d in figures["per_model"].items()]
        return {k: v for k, v in figures.items() if k != "per_model"}, rows

    refresh.click(load, None, [totals, per_model], **PRIVATE)


def _ratings_tab(console: AdminConsole, auth: AdminAuth) -> None:
    go = gr.Button("Recompute ratings now", variant="primary", elem_id="admin-recompute")
    result = gr.JSON(label="Rating run")

    def run(request: gr.Request) -> dict:
        user = require_admin(auth, request)
        with shown_errors():
            return console.recompute(user)

    go.click(run, None, [result], concurrency_limit=1, **PRIVATE)


FLAG_COLUMNS = ("id", "status", "reason", "voter", "votes", "p_value", "evidence", "decided_by")


def _flags_tab(console: AdminConsole, auth: AdminAuth) -> None:
    gr.Markdown(
        "Voters the last recomputation left out (steering: votes only when some model is "
        "present; outlier: votes improbable under the ratings), with the evidence. "
        "**Clear** a flag to count the voter's votes again; **confirm** it to keep them out "
        "even if a later run no longer finds it. Identity flags of battles are cleared by "
        "battle id (the matched phrase is in the battle's details)."
    )
    with gr.Row():
        status = gr.Radio(["flagged", "cleared", "confirmed", "any"], value="flagged",
                          label="Status")  # fmt: skip
        refresh = gr.Button("Refresh", elem_id="admin-flags-refresh")
    table = gr.Dataframe(headers=list(FLAG_COLUMNS), interactive=False, elem_id="admin-flags")
    with gr.Row():
        flag_id = gr.Number(label="Flag id", precision=0, elem_id="admin-flag-id")
        clear = gr.Button("Clear flag", elem_id="admin-flag-clear")
        confirm = gr.Button("Confirm flag", variant="stop", elem_id="admin-flag-confirm")
    with gr.Row():
        battle_id = gr.Textbox(label="Battle id (identity flag)", scale=3)
        clear_identity = gr.Button("Clear identity flag", elem_id="admin-identity-clear")
    result = gr.JSON(label="Result")

    def load(which: str, request: gr.Request) -> list[list[object]]:
        require_admin(auth, request)
        with shown_errors():
            rows = console.flags(None if which == "any" else which)
        return [[json.dumps(r[c], ensure_ascii=False) if c == "evidence" else r[c]
                 for c in FLAG_COLUMNS] for r in rows]  # fmt: skip

    def decide(
        which: str, flag_id: float | None, request: gr.Request | None = None, *, decision: str
    ) -> tuple[dict, list[list[object]]]:
        user = require_admin(auth, request)
        with shown_errors():
            out = console.decide_flag(user, int(flag_id or 0), decision)
        return out, load(which, request)

    def clear_battle(battle_id: str | None, request: gr.Request) -> dict:
        user = require_admin(auth, request)
        with shown_errors():
            return console.clear_identity(user, (battle_id or "").strip())

    refresh.click(load, [status], [table], **PRIVATE)
    for button, decision in ((clear, "clear"), (confirm, "confirm")):
        button.click(
            functools.partial(decide, decision=decision),
            [status, flag_id],
            [result, table],
            **PRIVATE,
        )
    clear_identity.click(clear_battle, [battle_id], [result], **PRIVATE)


def _audit_tab(console: AdminConsole, auth: AdminAuth) -> None:
    refresh = gr.Button("Refresh", elem_id="admin-audit-refresh")
    table = gr.Dataframe(
        headers=["at", "actor", "action", "target", "detail"], interactive=False,
        elem_id="admin-audit",
    )  # fmt: skip

    def load(request: gr.Request) -> list[list[object]]:
        require_admin(auth, request)
        return [[r[k] for k in ("at", "actor", "action", "target", "detail")]
                for r in console.audit_log(200)]  # fmt: skip

    refresh.click(load, None, [table], **PRIVATE)


def build_admin(console: AdminConsole, auth: AdminAuth, exports: ExportStore) -> gr.Blocks:
    """The admin page. It returns no files: exports wait in ``exports`` for their download."""
    from arena.ui.admin_events import events_tab  # it builds on this module's helpers

    with gr.Blocks(title="Tanuki Arena admin") as blocks:
        gr.Markdown("# Tanuki Arena admin", elem_id="admin-title")
        with gr.Tabs(elem_id="admin-tabs"):
            for label, builder in (
                ("Battles", _battles_tab),
                ("Models", _models_tab),
                ("Today", _today_tab),
                ("Export", functools.partial(export_tab, exports=exports)),
                ("Privacy", privacy_tab),
                ("Ratings", _ratings_tab),
                ("Flags", _flags_tab),
                ("Events", events_tab),
                ("Audit log", _audit_tab),
            ):
                with gr.Tab(label, elem_id=f"admin-tab-{label.split()[0].lower()}"):
                    builder(console, auth)
    return blocks


__all__ = ["PRIVATE", "build_admin", "require_admin", "shown_errors"]
