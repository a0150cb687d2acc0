"""Bounds shared by every walker over BTF, so hostile input fails typed.

BTF is a graph that arrives as untrusted bytes: a chain of 600 structs each
holding the previous one by value is well-formed, and so is an INT claiming
to be 4 GiB wide.  Every recursive walker (``Btf.align_of``/``size_of``, C
rendering, value layouts and codecs, CO-RE matching) checks its depth with
:func:`check_depth`, and every size that reaches numpy is checked against
:data:`MAX_LAYOUT_SIZE`, so such input raises :class:`~bpfnb.errors.BtfError`
naming the type id instead of ``RecursionError`` or a numpy ``TypeError``.
"""

from __future__ import annotations

from ..errors import BtfError

__all__ = ["MAX_DEPTH", "MAX_LAYOUT_SIZE", "check_depth", "check_layout_size"]

#: Nesting levels any walker follows (types by value, modifier chains, anonymous members).
#: Real kernels stay far below (vmlinux: < 20); the C renderer spends up to five Python
#: frames per level, so 100 levels stay clear of the default recursion limit of 1000.
MAX_DEPTH = 100

#: Largest value a layout (numpy dtype) can describe: numpy's itemsize is a C int.
MAX_LAYOUT_SIZE = (1 << 31) - 1


def check_depth(depth: int, type_id: int, what: str = "type") -> None:
    """Raise BtfError when ``depth`` exceeds :data:`MAX_DEPTH` (a loop, or hostile nesting)."""
    if depth > MAX_DEPTH:
        raise BtfError(f"{what} nests more than {MAX_DEPTH} levels deep (a loop, or hostile BTF)", type_id=type_id)


def check_layout_size(size: int, type_id: int, what: str = "value") -> None:
    """Raise BtfError when a value of ``size`` bytes cannot be laid out."""
    if size > MAX_LAYOUT_SIZE:
        raise BtfError(f"{what} of {size} bytes exceeds the {MAX_LAYOUT_SIZE}-byte limit of a value layout",
                       type_id=type_id)
