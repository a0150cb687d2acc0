"""Decode raw bytes into Python values through a BTF type (one value at a time).

Used wherever a single value meets a BTF type: initial values of global
variables (:mod:`bpfnb.obj.btf_maps`), a map key in a message.  It is a thin
wrapper over :class:`bpfnb.btf.codec.Codec`, so a global variable, a map
value and a DataFrame row all read the same bytes the same way: integers as
``int`` (signedness from BTF), ``bool``, enums as their member name when one
matches, ``char`` arrays as ``str``, other arrays as lists, structs and
unions as dicts (anonymous members flattened), pointers as addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BtfError
from .codec import Codec
from .types import Kind

if TYPE_CHECKING:
    from .btf import Btf

__all__ = ["decode_value"]

# Kinds with a size but no value layout (a function's "value" is its code):
# shown as hex so that a variable of such a type still renders.
_OPAQUE = frozenset({Kind.FUNC_PROTO, Kind.FUNC, Kind.FWD, Kind.UNKN})


def decode_value(btf: Btf, type_id: int, data: bytes, *, depth: int = 0) -> Any:
    """Decode ``data`` (exactly the type's size, or longer) as ``type_id``.

    ``depth`` is accepted for compatibility and ignored: the layout builder
    guards nesting itself.
    """
    tid = btf.resolve(type_id)
    if btf.kind_of(tid) in _OPAQUE:
        return bytes(data).hex()
    size = btf.size_of(tid)
    if len(data) < size:
        raise BtfError(f"{len(data)} bytes cannot hold {btf.name_of(type_id)} ({size} bytes)", type_id=type_id)
    return Codec(btf, type_id).decode(bytes(data[:size]))
