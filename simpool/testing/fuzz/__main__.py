"""``python -m simpool.testing.fuzz``: see :mod:`simpool.testing.fuzz.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
