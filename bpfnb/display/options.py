"""Display options: how many rows a table shows, HTML or text reprs.

As xarray's ``set_options``: a call sets options for the session, and the
same call used as a context manager restores the previous values on exit,
so one cell can show more rows without changing the rest of the notebook.
Only the views read these; the models never do.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ..errors import BpfnbError, UnknownName, did_you_mean

__all__ = ["OptionError", "get_options", "set_options"]

#: The options and their defaults.
DEFAULTS: dict[str, Any] = {
    # rows a table shows before "showing N of M" (None: every row)
    "display_max_rows": 50,
    # "html": rich reprs; "text": the plain-text form of each view, in a <pre>
    "display_style": "html",
}

_OPTIONS: dict[str, Any] = dict(DEFAULTS)

STYLES = ("html", "text")


class OptionError(BpfnbError, ValueError):
    """A display option set to a value it cannot take."""


def _validate(name: str, value: Any) -> Any:
    if name not in DEFAULTS:
        raise UnknownName(f"no display option {name!r}{did_you_mean(name, DEFAULTS)}; "
                          f"options: {', '.join(sorted(DEFAULTS))}")
    if name == "display_max_rows":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise OptionError(f"display_max_rows={value!r}: expected a positive int, or None for every row")
    elif name == "display_style" and value not in STYLES:
        raise OptionError(f"display_style={value!r}: expected one of {', '.join(map(repr, STYLES))}")
    return value


class set_options:  # noqa: N801 - a function to the user, a class for the ``with`` form
    """Set display options; as a context manager, restore them on exit.

    ``bpfnb.set_options(display_max_rows=200)`` for the session, or
    ``with bpfnb.set_options(display_style="text"): ...`` for one block.
    Every value is checked before any is set, so a bad one changes nothing.
    """

    def __init__(self, **options: Any) -> None:
        checked = {name: _validate(name, value) for name, value in options.items()}
        self._previous = {name: _OPTIONS[name] for name in checked}
        _OPTIONS.update(checked)

    def __enter__(self) -> set_options:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _OPTIONS.update(self._previous)

    def __repr__(self) -> str:
        return f"<bpfnb options {get_options()}>"


def get_options() -> dict[str, Any]:
    """A copy of the current display options."""
    return dict(_OPTIONS)


def option(name: str) -> Any:
    """The current value of one option (the views' accessor)."""
    return _OPTIONS[name]
