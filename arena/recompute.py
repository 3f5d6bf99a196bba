"""Recomputation of the ratings from the arena's votes, stored as a rating run.

The nightly job (``python -m arena recompute``, a systemd timer, cron, or the in-app
schedule of :mod:`arena.schedule`) asks the database for one ``GROUP BY`` over the
votes -- ``(model_a, model_b, winner) -> votes used, votes excluded per reason`` -- so a
million votes arrive as at most ``4 * models**2`` rows, fits them with :mod:`ratings`, and stores a
:class:`~arena.db.models.RatingRun` with one :class:`~arena.db.models.ModelRating` per
rated model and those rows themselves (:class:`~arena.db.models.RunPairCount`, which the
leaderboard's pair tables read) in one transaction. Every run is kept, for the history chart.

A vote counts unless (first matching reason wins, so the counts add up to all votes):
it was voided; its battle failed; its battle was not anonymous (named mode, unless
``include_named``); its battle was flagged (identity leak or moderation); and then the
rigging defences of :mod:`arena.integrity.screen` (too fast, daily caps per voter and
per address, steering voters, outlier voters), which need the clean votes one by one.

Two runs never write at once: a run holds the ``recompute`` lock of :mod:`arena.joblock`
(a row of ``job_locks``); a stale lock is taken over, and the run's note says so. The
votes are read through :mod:`arena.votecounts`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

import numpy as np
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from arena.config import Settings, load_settings
from arena.db.engine import make_engine, session_factory
from arena.db.models import JobLock, ModelRating, RatingRun, RunPairCount, utcnow
from arena.errors import ArenaError, ConfigError
from arena.integrity.screen import REASONS, Rules
from arena.joblock import STALE_AFTER, LockBusy, LockError, SessionFactory, confirm_lock, job_lock
from arena.votecounts import VoteCounts, count_votes, pair_rows, store_findings
from ratings import DEFAULT_LEVEL, DEFAULT_PRIOR, Leaderboard, RatingsError, enough_votes
from ratings import leaderboard_from_counts as fit_leaderboard

logger = logging.getLogger(__name__)

LOCK_NAME = "recompute"
#: The note line that records a run's vote threshold (read back by the leaderboard).
MIN_VOTES_NOTE = "min votes per rated model: {n}"

EXIT_OK, EXIT_DATABASE, EXIT_INPUT, EXIT_BUSY = 0, 1, 2, 3
#: The command's name: ``python -m arena recompute`` runs :func:`main`, as do its aliases
#: ``python -m arena.recompute`` and ``python -m ratings recompute`` (their messages name it).
PROG = "python -m arena recompute"


class RecomputeError(ArenaError):
    """A recomputation was not carried out; the message says why."""


class NoVotes(RecomputeError):
    """No vote can be used, so no run is stored and the leaderboard keeps the last one."""


class RecentRun(RecomputeError):
    """A run was stored moments ago (e.g. by another app replica); this turn is skipped."""


# -- recompute ----------------------------------------------------------------------


def _factory(target: Engine | SessionFactory) -> SessionFactory:
    if isinstance(target, Engine):
        return session_factory(target)
    # Runs are returned after their session closes, so they must not expire on commit.
    return sessionmaker(class_=target.class_, **{**target.kw, "expire_on_commit": False})


def _newest(session: Session) -> RatingRun | None:
    order = (RatingRun.created_at.desc(), RatingRun.id.desc())
    return session.scalars(select(RatingRun).order_by(*order).limit(1)).first()


def _new_run(
    board: Leaderboard | None,
    counts: VoteCounts,
    votes_used: int,
    method: str,
    anchor: str,
    level: float,
    rounds: int,
    seed: int,
    note: str,
) -> RatingRun:
    bootstrap = method == "bootstrap"
    run = RatingRun(
        method=method,
        anchor=anchor,
        level=level,
        rounds=rounds if bootstrap else None,
        seed=seed if bootstrap else None,
        votes_used=votes_used,
        excluded_failed=counts.excluded["failed"],
        excluded_flagged=counts.excluded["flagged"],
        excluded_named=counts.excluded["named"],
        excluded_voided=counts.excluded["voided"],
        **{f"excluded_{why}": counts.excluded.get(why, 0) for why in REASONS},
        note=note,
    )
    run.ratings = [
        ModelRating(
            model=row.model,
            rank=row.rank,
            rating=row.rating,
            ci_lower=row.ci_lower,
            ci_upper=row.ci_upper,
            battles=row.battles,
            wins=row.wins,
            ties=row.ties_plain,
            ties_bothbad=row.ties_bothbad,
            losses=row.losses,
            win_rate=row.win_rate,
        )
        for row in (board.rows if board is not None else ())
    ]
    return run


def recompute(
    target: Engine | SessionFactory,
    *,
    anchor: str,
    method: str = "sandwich",
    rounds: int = 100,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    include_named: bool = False,
    prior: float = DEFAULT_PRIOR,
    stale_after: timedelta = STALE_AFTER,
    min_interval: timedelta | None = None,
    rules: Rules | None = Rules(),  # noqa: B008 (frozen: one shared default is fine)
    min_votes: int = 0,
    precheck: Callable[[Session], None] | None = None,
    note: Sequence[str] = (),
) -> RatingRun:
    """Aggregate, fit and store one rating run; return it with its ratings loaded.

    ``rules`` are the rigging defences (None: only the old reasons, one GROUP BY).
    A model with fewer than ``min_votes`` votes among the other rated models is not
    rated (see :func:`ratings.enough_votes`); its votes are kept in the run's pair
    counts, so the leaderboard lists it with its battles. ``votes_used`` counts the
    votes of the fit only: between two rated models. ``precheck`` runs under the lock
    before anything is read (a :class:`RecomputeError` from it skips the run; the
    scheduler checks there whether its slot was already run); ``note`` lines open the
    run's note.

    ``rounds`` and ``seed`` matter for the bootstrap only (and are stored only then).
    Raises :class:`LockBusy`, :class:`NoVotes` (nothing stored), :class:`RecentRun`
    (only with ``min_interval``), :class:`LockLost`, or :class:`ratings.RatingsError`.
    """
    factory = _factory(target)
    with job_lock(factory, LOCK_NAME, stale_after=stale_after) as lock:
        with factory() as session:
            if precheck is not None:
                precheck(session)
            if min_interval is not None:
                last = _newest(session)
                if last is not None and utcnow() - last.created_at < min_interval:
                    raise RecentRun(
                        f"rating run #{last.id} was stored less than {min_interval} ago"
                    )
            as_of = utcnow()  # the run's time: the votes it saw were cast before this
            counts = count_votes(session, include_named=include_named, rules=rules)
        excluded = ", ".join(f"{n} {why}" for why, n in counts.excluded.items())
        if counts.used == 0:
            raise NoVotes(
                f"no usable votes (excluded: {excluded}); no rating run stored, "
                "the leaderboard keeps the previous run"
            )
        keep = enough_votes(counts.a_idx, counts.b_idx, counts.count, len(counts.names), min_votes)
        fitted = counts.among([name for name, k in zip(counts.names, keep, strict=True) if k])
        board = None
        if fitted.names:
            board = fit_leaderboard(
                fitted.names,
                fitted.a_idx,
                fitted.b_idx,
                fitted.outcome,
                fitted.count,
                anchor=anchor,
                ci=method,  # type: ignore[arg-type]  # checked by ratings
                level=level,
                rounds=rounds,
                rng=np.random.default_rng(seed),
                prior=prior,
                on_disconnected="largest",
            )
        rated = [row.model for row in board.rows] if board is not None else []
        votes_used = counts.among(rated).used
        few = [name for name, k in zip(counts.names, keep, strict=True) if not k]
        notes = [*note, *(board.notes if board is not None else ())]
        notes.append(MIN_VOTES_NOTE.format(n=min_votes))
        if few:
            notes.append(f"not enough votes yet (fewer than {min_votes}): {', '.join(few)}")
        notes.append(f"prior: {prior:g} virtual ties per model")
        if include_named:
            notes.append("named-mode battles included")
        if lock.took_over:
            notes.append(lock.took_over)
        run = _new_run(
            board, counts, votes_used, method, anchor, level, rounds, seed, "\n".join(notes)
        )
        run.created_at = as_of
        with factory() as session, session.begin():
            confirm_lock(session, lock)
            session.add(run)
            session.flush()  # gives the run its id, which its pair rows refer to
            session.execute(insert(RunPairCount), pair_rows(run.id, counts))
            if rules is not None:
                store_findings(session, run.id, counts.findings)
        logger.info(
            "recompute: rating run #%d stored: %d votes used (excluded: %s), %d models",
            run.id,
            run.votes_used,
            excluded,
            len(run.ratings),
        )
        return run


# -- command line -------------------------------------------------------------------


def _parser(settings: Settings) -> argparse.ArgumentParser:
    """The command's one parser (``python -m arena recompute`` and its aliases), its
    defaults from ``settings``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Recompute the arena's ratings from its database and store a rating run. "
        "Defaults come from arena.toml / ARENA_* / DATABASE_URL.",
    )
    add = parser.add_argument
    add("--config", metavar="FILE", help="arena.toml (default: $ARENA_CONFIG or ./arena.toml)")
    add(
        "--database-url",
        metavar="URL",
        default=settings.database_url,
        help="SQLAlchemy URL (default: DATABASE_URL, else arena.toml, else sqlite:///arena.db)",
    )
    add("--anchor", default=settings.rating_anchor, help="model pinned at 1000 (%(default)s)")
    add(
        "--ci",
        choices=("sandwich", "bootstrap"),
        default=settings.rating_ci,
        help="interval method (%(default)s)",
    )
    add("--rounds", type=int, default=settings.rating_rounds, help="bootstrap rounds (%(default)s)")
    add("--seed", type=int, default=0, help="bootstrap seed (%(default)s)")
    add("--level", type=float, default=DEFAULT_LEVEL, help="interval coverage (%(default)s)")
    add("--include-named", action="store_true", help="also count named-mode battles")
    add(
        "--min-votes",
        type=int,
        default=settings.rating_min_votes,
        help="votes a model needs to be rated (%(default)s)",
    )
    return parser


def _report(run: RatingRun) -> str:
    lines = [
        f"rating run #{run.id}: {run.votes_used} votes used; excluded "
        f"{run.excluded_voided} voided, {run.excluded_failed} failed, "
        f"{run.excluded_named} not anonymous, {run.excluded_flagged} flagged, "
        f"{run.excluded_fast} too fast, {run.excluded_cap_voter} over a voter's daily cap, "
        f"{run.excluded_cap_address} over an address's daily cap, "
        f"{run.excluded_steering} from steering voters, {run.excluded_outlier} from outliers",
    ]
    for r in sorted(run.ratings, key=lambda r: (-r.rating, r.model)):
        lines.append(
            f"{r.rank:>4}  {r.model:<40} {r.rating:8.1f}  [{r.ci_lower:8.1f}, "
            f"{r.ci_upper:8.1f}]  {r.battles:>7} battles  win rate {r.win_rate:.3f}"
        )
    lines += [f"note: {line}" for line in run.note.splitlines()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m arena recompute``: exit 0 (stored, or no votes), 1 the database cannot
    be reached or failed, 2 bad arguments, configuration or input, 3 busy. Every error is
    one line on stderr."""
    import functools

    from sqlalchemy.exc import ArgumentError

    from arena.cli import OneLineParser, database_failure, missing_sqlite_file, one_line_error

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    config = OneLineParser(prog=PROG, add_help=False)  # for defaults
    config.add_argument("--config")
    try:
        settings = load_settings(config.parse_known_args(argv)[0].config)
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return EXIT_INPUT
    parser = _parser(settings)
    parser.error = functools.partial(one_line_error, parser)  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    url = args.database_url
    if missing := missing_sqlite_file(url):  # never create an empty database to read
        print(f"error: {missing}", file=sys.stderr)
        return EXIT_DATABASE
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError, OSError) as exc:  # not a URL, no driver, no folder
        print(f"error: {database_failure(url, exc)}", file=sys.stderr)
        return EXIT_DATABASE if isinstance(exc, OSError) else EXIT_INPUT
    try:
        if not inspect(engine).has_table(JobLock.__tablename__):
            print(
                "error: the database has no arena tables yet; start the app once "
                "(it migrates the schema), then recompute",
                file=sys.stderr,
            )
            return EXIT_INPUT
        run = recompute(
            engine,
            anchor=args.anchor,
            method=args.ci,
            rounds=args.rounds,
            seed=args.seed,
            level=args.level,
            include_named=args.include_named,
            rules=Rules.from_settings(settings),
            min_votes=args.min_votes,
        )
    except LockBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except NoVotes as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_OK
    except (RatingsError, RecomputeError, LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SQLAlchemyError as exc:
        print(f"error: {database_failure(url, exc)}", file=sys.stderr)
        return EXIT_DATABASE
    finally:
        engine.dispose()
    print(_report(run))
    return EXIT_OK


if __name__ == "__main__":  # python -m arena.recompute, or the alias python -m ratings recompute
    sys.exit(main())
