"""``python -m simpool``: the same as the ``simpool`` command."""

from .cli.main import entry

entry()
