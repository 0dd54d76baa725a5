"""``python -m searchsafe``: the same as the ``searchsafe`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
