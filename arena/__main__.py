"""``python -m arena``: the admin command line (see :mod:`arena.cli`)."""

import sys

from arena.cli import main

sys.exit(main())
