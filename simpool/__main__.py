"""``python -m simpool``: the same as the ``simpool`` command."""

from .cli import entry

entry()
