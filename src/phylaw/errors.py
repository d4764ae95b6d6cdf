"""The one exception type that the CLI turns into a one-line message (exit code 2)."""

from __future__ import annotations


class PhylawError(Exception):
    """A user-facing error: bad parameter, unreadable file, mismatched inputs.

    The message must be one line that names the problem (and the offending file or value).
    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """
