"""The one exception type a user is meant to see.

Anything the user can fix (a bad option, a missing GPU, labels that do not fit the task)
raises :class:`NNBackendError` with a one-line message naming the problem and the fix.
The CLI turns it into ``Error: <message>`` on stderr and exit code 2, without a traceback;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class NNBackendError(ValueError):
    """A problem with the user's input or machine, explained in one line."""
