"""What admins do: :class:`AdminConsole`'s actions, each audited in its transaction.

The actions -- list and show battles, void and restore a vote, enable and disable a
model, today's figures, delete a voter's data, review flags, recompute the ratings,
events -- each write an ``audit_log`` row in the same transaction; the exports are in
:class:`~arena.admin.console_exports.ConsoleExports`. No Gradio and no HTTP here: the
admin page (:mod:`arena.ui.admin`), the JSON routes (:mod:`arena.admin_api`) and the
command line (:mod:`arena.cli`) all call these.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Engine, case, delete, func, or_, select
from sqlalchemy.orm import Session, aliased

from arena import events as event_repo
from arena.admin.console_exports import ConsoleExports
from arena.admin.errors import AdminError
from arena.config import Settings
from arena.db import repo
from arena.db.engine import session_factory
from arena.db.models import AuditLog, Battle, BattleStatus, Message, Model, Vote, Voter
from arena.errors import ArenaError
from arena.export import (
    JUDGE_PREFIX,
    pseudonym,
)
from arena.integrity import review

MAX_LIST = 500
MESSAGE_FIELDS = (
    "turn", "role", "content", "latency_ms", "ttft_ms", "prompt_tokens",
    "completion_tokens", "finish_reason", "error",
)  # fmt: skip


# -- passwords ----------------------------------------------------------------------


# -- the console --------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


@dataclass(frozen=True)
class BattleFilter:
    """Filters of the battle list; None means "either"."""

    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flagged: bool | None = None
    failed: bool | None = None
    voted: bool | None = None
    limit: int = 100
    offset: int = 0


@contextmanager
def _as_admin_error() -> Iterator[None]:
    try:
        yield
    except review.ReviewError as exc:
        raise AdminError(str(exc), code=exc.code) from exc


class AdminConsole(ConsoleExports):
    """The admin actions. ``actor`` is the admin's name (or ``cli:USER``)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.sessions = session_factory(engine)

    def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """Record an action in its own transaction (used for logins and failures)."""
        self.audit_many([(actor, action, target, detail)])

    def audit_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Record ``(actor, action, target, detail)`` rows in one transaction."""
        with self.sessions.begin() as s:
            for actor, action, target, detail in rows:
                repo.audit(s, actor[:200], action, target[:200], detail)

    def _judges(self) -> Callable[[str], str]:
        """Token -> judge id, with the salt read once."""
        salt = self._salt()
        return lambda token: pseudonym(token, salt) if salt else "(no export yet)"

    # -- battles --

    def battles(self, f: BattleFilter) -> list[dict[str, Any]]:
        """Battles newest first, with their vote, filtered."""
        ma, mb = aliased(Model), aliased(Model)
        q = (
            select(Battle, ma.name, mb.name, Vote, Voter.token)
            .join(ma, Battle.model_a_id == ma.id)
            .outerjoin(mb, Battle.model_b_id == mb.id)
            .outerjoin(Vote, Vote.battle_id == Battle.id)
            .join(Voter, Battle.voter_id == Voter.id)
        )
        if f.model:
            q = q.where(or_(ma.name == f.model, mb.name == f.model))
        if f.since:
            q = q.where(Battle.created_at >= f.since)
        if f.until:
            q = q.where(Battle.created_at < f.until)
        if f.flagged is not None:
            flagged = or_(Battle.flag_identity.is_(True), Battle.flag_moderation.is_(True))
            q = q.where(flagged if f.flagged else ~flagged)
        if f.failed is not None:
            failed = Battle.status == BattleStatus.FAILED
            q = q.where(failed if f.failed else ~failed)
        if f.voted is not None:
            q = q.where(Vote.id.is_not(None) if f.voted else Vote.id.is_(None))
        q = q.order_by(Battle.created_at.desc(), Battle.id)
        q = q.limit(max(1, min(f.limit, MAX_LIST))).offset(max(0, f.offset))
        judge = self._judges()
        with self.sessions() as s:
            return [self._summary(*row, judge=judge) for row in s.execute(q)]

    def _summary(
        self,
        b: Battle,
        a: str,
        bname: str | None,
        v: Vote | None,
        token: str,
        judge: Callable[[str], str],
    ) -> dict[str, Any]:
        return {
            "id": b.id, "created_at": _iso(b.created_at), "mode": b.mode.value,
            "status": b.status.value, "model_a": a, "model_b": bname, "turns": b.turns,
            "language": b.language, "flag_identity": b.flag_identity,
            "flag_moderation": b.flag_moderation, "identity_match": b.identity_match,
            "voter": judge(token),
            "winner": v.winner.value if v else None, "voted_at": _iso(v.created_at if v else None),
            "voided": v.voided if v else None, "void_reason": v.void_reason if v else None,
        }  # fmt: skip

    def battle(self, actor: str, battle_id: str) -> dict[str, Any]:
        """One battle with its whole conversation (audited: it shows what a voter wrote)."""
        ma, mb = aliased(Model), aliased(Model)
        with self.sessions.begin() as s:
            row = s.execute(
                select(Battle, ma.name, mb.name, Vote, Voter.token)
                .join(ma, Battle.model_a_id == ma.id)
                .outerjoin(mb, Battle.model_b_id == mb.id)
                .outerjoin(Vote, Vote.battle_id == Battle.id)
                .join(Voter, Battle.voter_id == Voter.id)
                .where(Battle.id == str(battle_id))
            ).first()
            if row is None:
                raise AdminError(f"no battle {battle_id!r}", code="not_found")
            out = self._summary(*row, judge=self._judges())
            messages = s.scalars(
                select(Message)
                .where(Message.battle_id == battle_id)
                .order_by(Message.turn, Message.side, Message.id)
            )
            out["messages"] = [
                {"side": m.side.value, **{k: getattr(m, k) for k in MESSAGE_FIELDS}}
                for m in messages
            ]
            repo.audit(s, actor, "view_battle", battle_id)
        return out

    def _set_void(self, actor: str, battle_id: str, voided: bool, reason: str | None) -> dict:
        with self.sessions.begin() as s:
            vote = s.scalar(select(Vote).where(Vote.battle_id == str(battle_id)))
            if vote is None:
                raise AdminError(f"battle {battle_id!r} has no vote", code="not_found")
            if vote.voided == voided:
                state = "already void" if voided else "not void"
                raise AdminError(f"the vote of {battle_id} is {state}", code="invalid")
            vote.voided, vote.void_reason = voided, reason
            action = "void_vote" if voided else "unvoid_vote"
            repo.audit(s, actor, action, battle_id, reason or "")
            return {"battle": battle_id, "voided": voided, "void_reason": reason}

    def void_vote(self, actor: str, battle_id: str, reason: str) -> dict[str, Any]:
        """Leave a vote out of the ratings, keeping it (reversible by :meth:`unvoid_vote`)."""
        reason = (reason or "").strip()
        if not reason:
            raise AdminError("a reason is required to void a vote", code="invalid")
        return self._set_void(actor, battle_id, True, reason[:2000])

    def unvoid_vote(self, actor: str, battle_id: str) -> dict[str, Any]:
        """Count a voided vote again."""
        return self._set_void(actor, battle_id, False, None)

    # -- models --

    def models(self) -> list[dict[str, Any]]:
        with self.sessions() as s:
            return [
                {"name": m.name, "provider": m.provider, "enabled": m.enabled, "demo": m.demo}
                for m in s.scalars(select(Model).order_by(Model.name))
            ]

    def set_model_enabled(self, actor: str, name: str, enabled: bool) -> dict[str, Any]:
        """Enable or disable a model for new battles (the arena reads the flag per battle)."""
        with self.sessions.begin() as s:
            model = s.scalar(select(Model).where(Model.name == name))
            if model is None:
                raise AdminError(f"no model {name!r}", code="not_found")
            model.enabled = bool(enabled)
            repo.audit(s, actor, "enable_model" if enabled else "disable_model", name)
            return {"name": name, "enabled": model.enabled}

    # -- figures --

    def today(self, now: datetime | None = None) -> dict[str, Any]:
        """Battles, votes and failures since midnight UTC, in total and per model."""
        now = now or datetime.now(UTC)
        start = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        failed = case((Battle.status == BattleStatus.FAILED, 1), else_=0)
        voted = case((Vote.id.is_not(None), 1), else_=0)
        per_model: dict[str, dict[str, int]] = {}
        with self.sessions() as s:
            names = dict(s.execute(select(Model.id, Model.name)).all())
            for side in (Battle.model_a_id, Battle.model_b_id):
                rows = s.execute(
                    select(side, func.count(), func.sum(failed), func.sum(voted))
                    .outerjoin(Vote, Vote.battle_id == Battle.id)
                    .where(Battle.created_at >= start, side.is_not(None))
                    .group_by(side)
                )
                for mid, n, nf, nv in rows:
                    d = per_model.setdefault(names[mid], {"battles": 0, "failed": 0, "votes": 0})
                    d["battles"] += n
                    d["failed"] += int(nf or 0)
                    d["votes"] += int(nv or 0)
            battles = s.scalar(select(func.count()).where(Battle.created_at >= start))
            fails = s.scalar(select(func.sum(failed)).where(Battle.created_at >= start))
            votes, voided = s.execute(
                select(func.count(), func.sum(case((Vote.voided.is_(True), 1), else_=0))).where(
                    Vote.created_at >= start
                )
            ).one()
        return {
            "since": start.isoformat(),
            "battles": battles or 0,
            "failed": int(fails or 0),
            "votes": votes or 0,
            "voided": int(voided or 0),
            "per_model": dict(sorted(per_model.items())),
        }

    # -- privacy --

    def find_voter(self, s: Session, ident: str) -> Voter | None:
        """A voter by raw token, or by the pseudonymous ``judge`` id of the exports."""
        ident = (ident or "").strip()
        if not ident:
            return None
        voter = s.scalar(select(Voter).where(Voter.token == ident))
        salt = self._salt()
        if voter is None and ident.startswith(JUDGE_PREFIX) and salt:
            tokens = s.execute(select(Voter.id, Voter.token).execution_options(yield_per=5000))
            for vid, token in tokens:
                if hmac.compare_digest(pseudonym(token, salt), ident):
                    return s.get(Voter, vid)
        return voter

    def delete_voter(self, actor: str, ident: str) -> dict[str, Any]:
        """Delete a voter and everything they did (battles, messages, votes)."""
        with self.sessions.begin() as s:
            voter = self.find_voter(s, ident)
            if voter is None:
                raise AdminError("no voter with this id or token", code="not_found")
            label = self._judges()(voter.token)
            if not label.startswith(JUDGE_PREFIX):
                label = f"voter #{voter.id}"
            battles = select(Battle.id).where(Battle.voter_id == voter.id)
            counts = {
                "messages": s.execute(delete(Message).where(Message.battle_id.in_(battles))),
                "votes": s.execute(
                    delete(Vote).where(or_(Vote.voter_id == voter.id, Vote.battle_id.in_(battles)))
                ),
                "battles": s.execute(delete(Battle).where(Battle.voter_id == voter.id)),
            }
            result = {k: r.rowcount for k, r in counts.items()}
            s.execute(delete(Voter).where(Voter.id == voter.id))
            repo.audit(s, actor, "delete_voter", label, json.dumps(result))
            return {"voter": label, **result}

    # -- flags: voters found by a recomputation, identity-flagged battles --

    def flags(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Voters flagged by the recomputation, with the evidence."""
        with self.sessions() as s, _as_admin_error():
            return review.list_flags(s, self._judges(), status or None, limit)

    def decide_flag(self, actor: str, flag_id: int, decision: str) -> dict[str, Any]:
        """Clear (the votes count again) or confirm (they stay out) a flag; audited."""
        with self.sessions.begin() as s, _as_admin_error():
            return review.decide_flag(s, actor, flag_id, decision)

    def clear_identity(self, actor: str, battle_id: str) -> dict[str, Any]:
        """Count a battle whose identity flag was a mere mention; audited."""
        with self.sessions.begin() as s, _as_admin_error():
            return review.clear_identity(s, actor, battle_id)

    # -- ratings and export --

    def recompute(self, actor: str) -> dict[str, Any]:
        """Recompute the ratings now (audited, also when it fails)."""
        from arena import recompute as rc  # imported lazily: numpy/scipy only when used

        st = self.settings
        try:
            run = rc.recompute(
                self.engine,
                anchor=st.rating_anchor,
                method=st.rating_ci,
                rounds=st.rating_rounds,
                rules=rc.Rules.from_settings(st),
                min_votes=st.rating_min_votes,
            )
        except (ArenaError, ValueError) as exc:
            self.audit(actor, "recompute_failed", detail=str(exc))
            raise AdminError(f"recomputation not done: {exc}", code="invalid") from exc
        out = {"run": run.id, "votes_used": run.votes_used, "models": len(run.ratings)}
        self.audit(actor, "recompute", f"run #{run.id}", json.dumps(out))
        return out

    # -- events (issue 18: time-boxed drives, arena/events.py) --

    def events(self) -> list[dict[str, Any]]:
        """Every event, latest deadline first, with its state, votes so far and link."""
        with self.sessions() as s:
            return [
                {**e.as_dict(), "state": e.state(), "votes": event_repo.event_votes(s, e.id)}
                for e in event_repo.list_events(s)
            ]

    def save_event(self, actor: str, **fields: Any) -> dict[str, Any]:
        """Create the event of ``slug`` or change it (arena.events.save_event; audited)."""
        try:
            with self.sessions.begin() as s:
                event = event_repo.save_event(s, **fields)
                detail = json.dumps(event.as_dict(), ensure_ascii=False)
                repo.audit(s, actor, "save_event", event.slug, detail)
        except event_repo.EventError as exc:
            raise AdminError(str(exc), code=exc.code) from exc
        return event.as_dict()

    def delete_event(self, actor: str, slug: str) -> dict[str, Any]:
        """Remove an event; its battles stay, untagged (audited)."""
        try:
            with self.sessions.begin() as s:
                event_repo.delete_event(s, slug)
                repo.audit(s, actor, "delete_event", slug)
        except event_repo.EventError as exc:
            raise AdminError(str(exc), code=exc.code) from exc
        return {"deleted": slug}

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.sessions() as s:
            rows = s.scalars(
                select(AuditLog).order_by(AuditLog.id.desc()).limit(max(1, min(limit, MAX_LIST)))
            )
            return [
                {"at": _iso(r.created_at), "actor": r.actor, "action": r.action,
                 "target": r.target, "detail": r.detail}
                for r in rows
            ]  # fmt: skip


# -- exports waiting for their download ----------------------------------------------
