"""Entry point for ``python -m ratings``; the commands live in :mod:`ratings.cli`."""

from ratings.cli import main

raise SystemExit(main())
