"""Shared command-line helpers: one-line errors instead of tracebacks."""

import functools
import sys

from tfav.errors import TfavError


def one_line_errors(main):
    """Run ``main``; print a :class:`TfavError` as ``error: ...`` and exit 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except TfavError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
