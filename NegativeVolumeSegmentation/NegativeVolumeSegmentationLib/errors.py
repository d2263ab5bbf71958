"""Errors shown to users as one line (the CLI prints ``nvseg: <message>`` and exits 2)."""


class InputError(Exception):
    """Bad input the user can fix: missing file, unreadable image, wrong dimension, not CT, ...

    The message is a single line that names the input and what is wrong with it.
    """


class ModelError(Exception):
    """A bundled or user-supplied model file is missing, corrupt or does not match."""


def one_line(text):
    """``text`` on one line: every run of whitespace (a library message's newlines) one space;
    bytes of a path that are not UTF-8 (Python keeps them as surrogates) shown as U+FFFD, so the
    line can be printed and written to UTF-8 files."""
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def check_utf8_path(path, what):
    """InputError (one line) when ``path`` holds bytes that are not UTF-8: SimpleITK's readers
    and writers abort the whole process on such a path (rc 134, no message)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("%s: the %s's path is not valid UTF-8; rename it" % (one_line(path),
                                                                              what))


def error_line(error):
    """One line saying what ``error`` (an exception) was: its message, or its type's name."""
    return one_line(error) or type(error).__name__
