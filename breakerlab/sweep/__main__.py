"""``python -m breakerlab.sweep ...`` — the same as ``breakerlab sweep ...``."""

from .command import main

raise SystemExit(main())
