"""The one exception type the codec raises for anything a user can cause."""


class InrError(Exception):
    """A bad input, option or file. The message is one line that names the problem."""
