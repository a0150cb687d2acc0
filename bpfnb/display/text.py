"""Names from object files made safe to show: terminals, HTML, graphviz.

Map, program, section and type names come from untrusted files.  Printed
raw, an ESC sequence in a map name rewrites the terminal, and a U+202E
(right-to-left override) makes ``evil\u202eexe.txt`` read as something else.
:func:`printable` turns every control character (C0, DEL, C1) and every
bidirectional formatting character into a visible ``\\x1b``/``\\u202e``
escape; ordinary text (including non-ASCII letters) is unchanged.
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "has_bidi", "printable"]

#: Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_BIDI = "".join(sorted(BIDI_CONTROLS))
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _visible(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


_SAFE_ASCII = bytes(range(0x20, 0x7F))
_SAFE_ASCII_LINES = _SAFE_ASCII + b"\n\t"


def printable(text: object, *, keep_lines: bool = False) -> str:
    """``text`` with control and bidi characters shown as escapes (``keep_lines``: not ``\\n``/``\\t``)."""
    s = str(text)
    if s.isascii() and not s.encode("ascii").translate(None, _SAFE_ASCII_LINES if keep_lines else _SAFE_ASCII):
        return s  # nothing to escape, found without the regex: a 12 MB dump in 9 ms, not 32
    return (_UNSAFE_KEEP_LINES if keep_lines else _UNSAFE).sub(_visible, s)


def has_bidi(text: str) -> bool:
    return any(c in BIDI_CONTROLS for c in text)


def dot_label(*lines: object) -> str:
    """A graphviz label of ``lines``, taken literally: never an HTML-like ``<...>`` label,
    no ``\\N``/``\\l`` escapes, control and bidi characters visible."""
    import graphviz

    return graphviz.escape("\n".join(printable(line) for line in lines))
