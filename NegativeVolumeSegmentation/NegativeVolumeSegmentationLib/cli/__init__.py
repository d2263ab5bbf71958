"""The ``nvseg`` command: one sub-command per job, each defined in its own module of this package.

Every sub-command module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. Errors the
user can fix (:class:`InputError`, :class:`ModelError`) are printed as one line on stderr with
exit status 2; anything else is an internal error (exit 1; set ``NVSEG_DEBUG=1`` for the
traceback).
"""

import argparse
import os
import signal
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


_CTRL_C = []   # the signals (SIGINT, SIGTERM) the handlers main() installs noted
STOPPING = (signal.SIGINT, signal.SIGTERM)   # Ctrl-C; timeout, kill, a batch system's end


def ctrl_c_pressed():
    """Whether Ctrl-C (SIGINT) or SIGTERM came during this command: a library that turned the
    KeyboardInterrupt into its own error (VTK's module loader raises ImportError) still ends
    the command as interrupted (130, 143), not as an internal error or a failed case."""
    return bool(_CTRL_C)


def _interrupted_status():
    """The exit status of a command ended by a signal: 128 + its number (SIGINT 130)."""
    return 128 + int(_CTRL_C[0] if _CTRL_C else signal.SIGINT)


def _noting_ctrl_c():
    """Install SIGINT and SIGTERM handlers that note the signal before raising KeyboardInterrupt
    as Python's SIGINT handler does (SIGTERM's default ended the process at once: a case's
    staged files left behind, no word); returns {signal: the handler it replaced} ({} off the
    main thread: nothing installed)."""
    def handler(signum, frame):
        _CTRL_C.append(signum)
        signal.default_int_handler(signum, frame)

    del _CTRL_C[:]
    previous = {}
    try:
        for number in STOPPING:
            previous[number] = signal.signal(number, handler)
    except ValueError:   # not the main thread
        pass
    return previous


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = _noting_ctrl_c()
    try:
        return int(args.func(args) or 0)
    except (InputError, ModelError) as error:
        print("nvseg: " + one_line(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:   # nvseg run says how far it got
        print("nvseg: interrupted" + (": %s" % error if str(error) else ""), file=sys.stderr)
        return _interrupted_status()
    except Exception as error:  # a bug, not bad input: one line unless debugging
        from ..io.results_folder import no_space

        if ctrl_c_pressed():   # Ctrl-C inside a library's import or call, turned into its error
            print("nvseg: interrupted", file=sys.stderr)
            return _interrupted_status()
        if no_space(error):   # the input was fine; the disk was full
            print("nvseg: cannot write %s: no space left on device"
                  % (getattr(error, "filename", None) or "the results"), file=sys.stderr)
            return 2
        if os.environ.get("NVSEG_DEBUG"):
            raise
        message = error_line(error)
        print("nvseg: internal error: %s: %s (set NVSEG_DEBUG=1 for details)"
              % (type(error).__name__, message), file=sys.stderr)
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def entry(argv=None):
    """The ``nvseg`` command's process: :func:`main`, then its exit status. After Ctrl-C (130) or
    SIGTERM (143) the process ends at once (``os._exit``), its streams flushed and its cleanup done by main:
    a review (2026-12-07) saw the interpreter's own shutdown after Ctrl-C, with torch's and
    VTK's threads and objects caught mid-work, end in a segmentation fault in 4 of 8 runs (not
    reproduced here in 28 tries); interrupted, nothing is left for that shutdown to do."""
    status = main(argv)
    if status in [128 + int(number) for number in STOPPING]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(entry())
