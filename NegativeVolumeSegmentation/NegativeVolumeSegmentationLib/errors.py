"""Errors shown to users as one line (the CLI prints ``nvseg: <message>`` and exits 2)."""


class InputError(Exception):
    """Bad input the user can fix: missing file, unreadable image, wrong dimension, not CT, ...

    The message is a single line that names the input and what is wrong with it.
    """


class ModelError(Exception):
    """A bundled or user-supplied model file is missing, corrupt or does not match."""


def one_line(text):
    """``text`` on one line: every run of whitespace (a library message's newlines) one space."""
    return " ".join(str(text).split())


def error_line(error):
    """One line saying what ``error`` (an exception) was: its message, or its type's name."""
    return one_line(error) or type(error).__name__
