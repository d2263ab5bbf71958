"""The ``nvseg`` command: one sub-command per job, each defined in its own module of this package.

Every sub-command module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. Errors the
user can fix (:class:`InputError`, :class:`ModelError`) are printed as one line on stderr with
exit status 2; anything else is an internal error (exit 1; set ``NVSEG_DEBUG=1`` for the
traceback).
"""

import argparse
import os
import sys

from .. import __version__
from ..errors import InputError, ModelError, error_line, one_line

# Sub-command modules, imported lazily so that `nvseg --help` stays fast and torch is only
# imported by the commands that need it.
COMMANDS = (
    "phantom",
    "negative_volume",
    "run",
    "compute",
    "train",
    "evaluate",
)


def _import(name):
    import importlib

    return importlib.import_module("." + name, __package__)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors one line (exit 2) as the other errors are: "nvseg run:
    argument --mode: invalid choice: 'wide' (...) (see nvseg run --help)" instead of the usage
    text and the message (its sub-commands' parsers are of this class too)."""

    def error(self, message):
        self.exit(2, "%s: %s (see %s --help)\n" % (self.prog, one_line(message), self.prog))


def build_parser():
    parser = _Parser(
        prog="nvseg",
        description="Temporomandibular joint negative volume (joint space) from head CT.",
    )
    parser.add_argument("--version", action="version", version="nvseg " + __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        _import(name).add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, ModelError) as error:
        print("nvseg: " + one_line(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:   # nvseg run says how far it got
        print("nvseg: interrupted" + (": %s" % error if str(error) else ""), file=sys.stderr)
        return 130
    except Exception as error:  # a bug, not bad input: one line unless debugging
        if os.environ.get("NVSEG_DEBUG"):
            raise
        message = error_line(error)
        print("nvseg: internal error: %s: %s (set NVSEG_DEBUG=1 for details)"
              % (type(error).__name__, message), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
