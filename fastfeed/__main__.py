"""``python -m fastfeed``: the `fastfeed` command."""

from fastfeed.cli import __main__  # noqa: F401  (runs the command)
