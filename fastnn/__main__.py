"""``python -m fastnn`` (the same as the ``fastnn`` command)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
