"""``python -m simpool``: the same as the ``simpool`` command."""

import sys

from .cli import main

sys.exit(main())
