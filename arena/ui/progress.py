"""The arena tab's top: the first-visit dialog, the progress header and an event's banner.

* The first-visit dialog (``#first-visit``, a native modal ``<dialog>`` the load script
  adds to the page: the page behind
  it is inert and the focus stays in it) holds the wording in both languages; CSS shows
  the page's. Accepting (``#first-visit-accept``, a button: Enter or Space) stores the
  wording's version in the browser (:mod:`arena.consent`); until then a click on a send
  button or an Enter in a prompt box is stopped before Gradio sees it, and the dialog
  opens again. Escape does not dismiss it.
* The progress header: the volunteer's own blind votes and the arena's total toward
  ``vote_goal`` with a gauge (figures from :class:`arena.progress.Progress`).
* An event's banner (the page came by ``/?event=<slug>``): its name, a gauge of its votes
  toward its goal and the time left; after the deadline its thank-you text and a button
  for its results. The page's load script puts the slug in a cookie
  (:data:`arena.events.EVENT_COOKIE`) that ``POST /api/battles`` reads to tag new battles.

Everything here is numbers and the operator's own texts: no model name before the
volunteer asks for an ended event's results.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

from arena.config import Settings
from arena.consent import STORAGE_KEY, consent_version
from arena.events import EVENT_COOKIE, SLUG, EventInfo, ResultRow
from arena.progress import Figures
from arena.ui.i18n import LANGS, t

PROGRESS_CSS = """
#first-visit { box-sizing: border-box; width: min(560px, calc(100vw - 32px)); max-width: none;
  border: none; border-radius: 12px;
  margin: auto;
  padding: 20px 24px; box-shadow: 0 12px 40px rgba(0,0,0,.3);
  background: var(--background-fill-primary); color: var(--body-text-color); }
#first-visit::backdrop { background: rgba(0,0,0,.55); }
#first-visit h2 { margin: 0 0 8px; font-size: 1.25rem; }
#first-visit li { margin: 4px 0; line-height: 1.6; }
#first-visit-accept { margin-top: 12px; width: 100%; padding: 10px 16px; font-size: 1rem;
  font-weight: 600; border: none; border-radius: 8px; cursor: pointer;
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
#first-visit-accept:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
html[lang="en"] .ta-ja, html:not([lang="en"]) .ta-en { display: none !important; }
.ta-progress { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px;
  font-size: 0.95rem; padding: 4px 2px; }
.ta-progress progress, .ta-event progress { -webkit-appearance: none; appearance: none;
  width: 180px; max-width: 100%; height: 12px; border: none; border-radius: 6px;
  background: #e5e7eb; overflow: hidden; }
.ta-progress progress::-webkit-progress-bar, .ta-event progress::-webkit-progress-bar {
  background: #e5e7eb; }
.ta-progress progress::-webkit-progress-value, .ta-event progress::-webkit-progress-value {
  background: #2563eb; }
.ta-progress progress::-moz-progress-bar, .ta-event progress::-moz-progress-bar {
  background: #2563eb; }
.ta-event { border: 1px solid var(--border-color-accent-subdued); border-radius: 10px;
  padding: 10px 14px; background: var(--color-accent-soft); }
.ta-event h2 { margin: 0 0 6px; font-size: 1.15rem; }
.ta-event-line { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px; }
.ta-event-results { overflow-x: auto; }
.ta-event-results table { border-collapse: collapse; width: 100%; }
.ta-event-results th, .ta-event-results td { padding: 4px 8px;
  border-bottom: 1px solid var(--border-color-primary); text-align: left; }
"""


def _both(key: str, **params: object) -> str:
    """``key`` in both languages, the page's shown (CSS on ``<html lang>``)."""
    return "".join(
        f'<span lang="{lang}" class="ta-{lang}">{html.escape(t(key, lang, **params))}</span>'
        for lang in LANGS
    )


def consent_points(settings: Settings, lang: str) -> list[str]:
    """The dialog's points in ``lang``: the operator's wording, else the built-in one."""
    text = getattr(settings, f"consent_{lang}", "") or t("consent_points", lang)
    return [line.strip() for line in text.splitlines() if line.strip()]


def consent_html(settings: Settings) -> str:
    """The first-visit dialog, closed: the page's load script adds it to the page (no
    Gradio component, nothing to load) and opens it until accepted."""
    parts = []
    for lang in LANGS:
        points = "".join(f"<li>{html.escape(p)}</li>" for p in consent_points(settings, lang))
        lic = settings.export_license
        licence = f"<p>{html.escape(t('consent_license', lang, license=lic))}</p>" if lic else ""
        parts.append(
            f'<div lang="{lang}" class="ta-{lang}"><p>{html.escape(t("consent_intro", lang))}</p>'
            f"<ul>{points}</ul>{licence}</div>"
        )
    version = consent_version(settings.consent_ja, settings.consent_en)
    return (
        f'<dialog id="first-visit" aria-labelledby="first-visit-title" '
        f'data-version="{html.escape(version)}">'
        f'<h2 id="first-visit-title">{_both("consent_title")}</h2>{"".join(parts)}'
        f'<button id="first-visit-accept" type="button">{_both("consent_accept")}</button>'
        "</dialog>"
    )


def consent_js(settings: Settings) -> str:
    """Page-load JS: open the dialog until accepted; stop sending before that."""
    version = json.dumps(consent_version(settings.consent_ja, settings.consent_en))
    return f"""
  if (!window.__taConsent) {{
    window.__taConsent = true;
    const KEY = {json.dumps(STORAGE_KEY)}, VERSION = {version};
    const made = document.createElement("template");
    made.innerHTML = {json.dumps(consent_html(settings), ensure_ascii=False)};
    const dlg = made.content.firstElementChild;
    document.body.appendChild(dlg);
    const btn = document.getElementById("first-visit-accept");
    const stored = () => {{ try {{ return localStorage.getItem(KEY) === VERSION; }}
                           catch (e) {{ return false; }} }};
    const accepted = () => window.__taAccepted === true || stored();
    const open = () => {{
      if (dlg && !dlg.open) dlg.showModal();
      if (btn) btn.focus();
    }};
    if (dlg && btn) {{
      dlg.addEventListener("cancel", (e) => e.preventDefault());  // Escape is no consent
      btn.addEventListener("click", () => {{
        window.__taAccepted = true;
        try {{ localStorage.setItem(KEY, VERSION); }} catch (e) {{}}
        dlg.close();
        const box = document.querySelector("#arena-prompt textarea");
        if (box && !box.disabled) box.focus();
      }});
    }}
    const SEND = "#arena-send, #named-arena-send, #chat-send";
    const PROMPT = "#arena-prompt textarea, #named-arena-prompt textarea, #chat-prompt textarea";
    const stop = (e) => {{ e.stopImmediatePropagation(); e.preventDefault(); open(); }};
    window.addEventListener("click", (e) => {{
      if (!accepted() && e.target instanceof Element && e.target.closest(SEND)) stop(e);
    }}, true);
    window.addEventListener("keypress", (e) => {{
      if (!accepted() && e.key === "Enter" && e.target instanceof Element
          && e.target.matches(PROMPT)) stop(e);
    }}, true);
    if (!accepted()) open();
  }}
"""


def page_load_js(base: str, settings: Settings) -> str:
    """The page's load script: ``base`` (language, proof of work), then the dialog, then
    the event link's slug (kept in the cookie that tags new battles, or the cookie goes)."""
    cookie = EVENT_COOKIE
    return f"""async (token, lang, choice, proof, _slug) => {{
  const base = {base};
  const out = await base(token, lang, choice, proof);
  {consent_js(settings)}
  const slug = (new URLSearchParams(window.location.search).get("event") || "").toLowerCase();
  document.cookie = new RegExp({json.dumps("^" + SLUG.pattern + "$")}).test(slug)
    ? `{cookie}=${{slug}}; path=/; SameSite=Strict`
    : `{cookie}=; path=/; max-age=0; SameSite=Strict`;
  return [...out, slug.slice(0, 80)];
}}"""


# -- the header and the banner ---------------------------------------------------------


def _number(n: int, lang: str) -> str:
    return f"<strong>{n:,}</strong>"


def _gauge(elem_id: str, value: int, goal: int, label: str) -> str:
    shown = max(0, min(value, goal))
    return (
        f'<progress id="{elem_id}" max="{goal}" value="{shown}" aria-label="{html.escape(label)}">'
        f"{100 * shown // max(goal, 1)}%</progress>"
    )


def _fill(key: str, lang: str, **numbers: int) -> str:
    """An escaped text with its numbers in bold."""
    marks = {k: f"\x00{k}\x00" for k in numbers}
    text = html.escape(t(key, lang, **marks))
    for k, n in numbers.items():
        text = text.replace(f"\x00{k}\x00", _number(n, lang))
    return text


def header_html(figures: Figures, lang: str) -> str:
    """The progress line: own votes, the arena's total toward its goal, a gauge."""
    return (
        '<div class="ta-progress" role="status" aria-live="polite">'
        f'<span id="progress-own">{_fill("progress_own", lang, own=figures.own)}</span>'
        f'<span id="progress-total">'
        f"{_fill('progress_total', lang, total=figures.total, goal=figures.goal)}</span>"
        + _gauge("progress-gauge", figures.total, figures.goal, t("progress_gauge", lang))
        + "</div>"
    )


def time_text(seconds: float, lang: str) -> str:
    """A duration in days and hours, or hours and minutes under a day."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    if days:
        return t("event_days", lang, d=days, h=rest // 60)
    return t("event_hours", lang, h=rest // 60, m=rest % 60)


def banner_html(figures: Figures, lang: str, slug: str = "", now: datetime | None = None) -> str:
    """The event's banner; a polite line for an unknown slug; nothing without a slug."""
    event = figures.event
    if event is None:
        if not slug:
            return ""
        text = html.escape(t("event_unknown", lang, slug=slug[:40]))
        return f'<p id="event-unknown" class="ta-event">{text}</p>'
    now = now or datetime.now(UTC)
    state = event.state(now)
    head = f'<h2 id="event-name">{html.escape(event.name)}</h2>'
    if state == "ended":
        thanks = event.thanks(lang) or t("event_ended", lang)
        body = (
            f'<p id="event-thanks">{html.escape(thanks)}</p>'
            f'<p class="ta-event-line">{html.escape(t("event_after", lang))}</p>'
        )
    elif state == "upcoming":
        left = time_text((event.starts_at - now).total_seconds(), lang)
        body = f'<p id="event-left">{html.escape(t("event_upcoming", lang, time=left))}</p>'
    else:
        left = time_text((event.ends_at - now).total_seconds(), lang)
        body = (
            '<div class="ta-event-line">'
            + _gauge("event-gauge", figures.event_votes, event.goal, t("progress_gauge", lang))
            + f'<span id="event-votes">'
            f"{_fill('event_votes', lang, votes=figures.event_votes, goal=event.goal)}</span>"
            f'<span id="event-left">{html.escape(t("event_left", lang, time=left))}</span></div>'
        )
    return f'<section class="ta-event" data-state="{state}">{head}{body}</section>'


def results_html(event: EventInfo, votes: int, rows: list[ResultRow], lang: str) -> str:
    """An ended event's results as a plain table (ratings from its votes only)."""
    title = html.escape(t("event_results_title", lang, name=event.name, votes=f"{votes:,}"))
    if not rows:
        none = html.escape(t("event_results_none", lang))
        return f'<div class="ta-event-results"><h3>{title}</h3><p>{none}</p></div>'
    cols = ("rank", "model", "rating", "battles", "record")
    head = "".join(f"<th>{html.escape(t(f'event_col_{c}', lang))}</th>" for c in cols)
    body = "".join(
        f"<tr><td>{r.rank}</td><td>{html.escape(r.model)}</td><td>{r.rating:.0f}</td>"
        f"<td>{r.battles}</td><td>{r.wins} / {r.ties} / {r.losses}</td></tr>"
        for r in rows
    )
    return (
        f'<div class="ta-event-results"><h3>{title}</h3>'
        f'<table id="event-results-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
