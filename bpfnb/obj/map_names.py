"""What a map is called in the kernel and where it is pinned: libbpf's naming rules (pure).

Names from object files never become paths unchecked: a pinned map's name
must be one safe path component (:class:`~bpfnb.errors.UnsafeName`), and
the path is verified to stay inside ``pin_root``.  Nothing here makes a
syscall, so the rules are tested without privileges.
"""

from __future__ import annotations

import os

from ..errors import UnsafeName
from ..uapi.names import BPF_OBJ_NAME_LEN, sanitize_name

__all__ = ["internal_map_name", "object_name", "pin_path", "safe_component"]


def object_name(obj_name: str) -> str:
    """libbpf's object name: the file's basename up to its first dot (``multi.bpf.o`` → ``multi``)."""
    return os.path.basename(obj_name).split(".", 1)[0]


def internal_map_name(obj_name: str, section: str) -> str:
    """The kernel name libbpf gives a global-data map (``multi.rodata``, ``packet_c.rodata``).

    The rule (libbpf's ``internal_map_name``): the suffix is the section
    name, with at least 7 characters reserved for it and at most 15 used;
    custom sections (a second dot: ``.data.foo``) get no prefix, the others
    as much of the object name as fits before the suffix, all cut at 15
    bytes and sanitised.  ``obj_name`` may be a file name: it is reduced
    with :func:`object_name` first.
    """
    obj = object_name(obj_name).encode()
    real = section.encode()
    limit = BPF_OBJ_NAME_LEN - 1
    sfx_len = min(max(7, len(real)), limit)
    pfx_len = 0 if b"." in real[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj))
    raw = (obj[:pfx_len] + real[:sfx_len])[:limit]
    return sanitize_name(raw.decode("latin-1")).decode()


_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def safe_component(name: str) -> str:
    """``name`` if it can be one file name under a pin root, else UnsafeName.

    Checked before any path is built: no separators, no ``.``/``..``, no NUL
    or control characters, not empty, at most 255 bytes.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeName(f"map name {name!r} cannot be pinned: empty")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeName(f"map name {name!r} cannot be pinned: not a single path component")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise UnsafeName(f"map name {name!r} cannot be pinned: control characters")
    if any(c in _BIDI_CONTROLS for c in name):  # "abc\u202etxt.exe" would show reordered in ls and bpftool
        raise UnsafeName(f"map name {name!r} cannot be pinned: bidirectional control characters")
    if len(os.fsencode(name)) > 255:
        raise UnsafeName(f"map name {name[:40]!r}... cannot be pinned: longer than 255 bytes")
    return name


def pin_path(pin_root: str | os.PathLike[str], name: str) -> str:
    """``pin_root/name`` after checking ``name`` and that the result stays inside ``pin_root``.

    A symlink at ``pin_root/name`` is refused: following it would reuse (or
    shadow) an object pinned elsewhere in bpffs without saying so.
    """
    safe_component(name)
    root = os.path.abspath(os.fsdecode(pin_root))
    path = os.path.join(root, name)
    if os.path.dirname(path) != root:  # belt and braces: the component check already ensures this
        raise UnsafeName(f"map name {name!r} would pin outside {root}")
    if os.path.islink(path):
        raise UnsafeName(f"map {name!r}: {path} is a symlink to {os.readlink(path)!r}; "
                         "pins under the pin root are not followed (remove the link or pin elsewhere)")
    return path
