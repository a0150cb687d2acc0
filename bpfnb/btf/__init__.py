"""BTF: parse, look up, render as C, sanitize, CO-RE (pure: bytes in, model out).

``Btf.from_sys_fs()`` indexes the kernel's BTF in a few tens of milliseconds;
types are decoded on access.  ``BtfExt`` parses ``.BTF.ext`` (func_info,
line_info, CO-RE relocation records).
"""

from __future__ import annotations

from .btf import Btf, MemberLocation
from .ext import BtfExt, CoreRelo, FuncInfo, LineInfo
from .types import (
    Array, BtfType, Const, Datasec, DeclTag, Enum, Enum64, EnumValue, Float, Func, FuncProto, Fwd, Int,
    IntEncoding, Kind, Linkage, Member, Param, Ptr, Restrict, Struct, Typedef, TypeTag, Union, Var, VarSecinfo,
    Void, Volatile, essential_name,
)

__all__ = [
    "Array", "Btf", "BtfExt", "BtfType", "Const", "CoreRelo", "Datasec", "DeclTag", "Enum", "Enum64", "EnumValue",
    "Float", "Func", "FuncInfo", "FuncProto", "Fwd", "Int", "IntEncoding", "Kind", "LineInfo", "Linkage", "Member",
    "MemberLocation", "Param", "Ptr", "Restrict", "Struct", "TypeTag", "Typedef", "Union", "Var", "VarSecinfo",
    "Void", "Volatile", "essential_name",
]
