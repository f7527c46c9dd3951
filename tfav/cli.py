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


def number_in(kind, low=None, high=None, *, low_open=False):
    """An argparse ``type=`` that parses ``kind`` (``int`` or ``float``) and checks its
    range, so a bad value is a one-line usage error at parse time (never "0 = default").

    Example:
        >>> p.add_argument("--epochs", type=number_in(int, 1))
    """
    import argparse

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(
                f"must be {'>' if low_open else '>='} {low}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
