"""The one exception type a user is meant to see.

Anything the user can fix (a bad option, a missing GPU, labels that do not fit the task)
raises :class:`NNBackendError` with a one-line message naming the problem and the fix.
The CLI turns it into ``Error: <message>`` on stderr and exit code 2, without a traceback;
every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable


class NNBackendError(ValueError):
    """A problem with the user's input or machine, explained in one line."""


class SettingError(NNBackendError):
    """A problem with a setting, worded in whatever names the caller's interface uses.

    The library writes its message as a template whose ``{name}`` fields are setting
    names (``"{batch_size} must be >= 1, got 0"``). Printed as is, the fields read as the
    library's names; each interface re-spells them at its boundary with :meth:`spelled`
    (the command line as ``--batch-size``, the estimators as their parameter names).

    Parameters
    ----------
    template : str
        The message, with ``{setting_name}`` fields (literal braces doubled).
    """

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.spelled(lambda name: name))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with each setting name replaced by ``spell(name)``."""
        return self.template.format_map(_Spelling(spell))


def literal(text: object) -> str:
    """``text`` for a :class:`SettingError` template: its braces doubled, never a field."""
    return str(text).replace("{", "{{").replace("}", "}}")


class _Spelling(dict[str, str]):
    """``str.format_map`` mapping that spells any field name through a function."""

    def __init__(self, spell: Callable[[str], str]) -> None:
        super().__init__()
        self.spell = spell

    def __missing__(self, key: str) -> str:
        return self.spell(key)
