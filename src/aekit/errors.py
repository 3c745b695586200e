"""One exception type for every mistake a user can make.

The CLI prints ``aekit: <message>`` and exits with status 2 for these, without a traceback, so every
message must say what is wrong and how to fix it, in one line.
"""


class AekitError(ValueError):
    """Bad input, bad configuration or a bad file: the message says what and how to fix it."""
