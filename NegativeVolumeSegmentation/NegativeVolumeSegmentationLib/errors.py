"""Errors shown to users as one line (the CLI prints ``nvseg: <message>`` and exits 2)."""


class InputError(Exception):
    """Bad input the user can fix: missing file, unreadable image, wrong dimension, not CT, ...

    The message is a single line that names the input and what is wrong with it.
    """


class ModelError(Exception):
    """A bundled or user-supplied model file is missing, corrupt or does not match."""
