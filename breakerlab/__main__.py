"""``python -m breakerlab ...``: the ``breakerlab`` command, for an environment whose scripts
directory is not on ``PATH`` (or to pick the interpreter explicitly)."""

import sys

from .cli import main

raise SystemExit(main(sys.argv[1:]))
