"""A kernel BTF that is not this kernel's: type ids shifted, some layouts moved.

For checking that the notebooks' stored outputs hold on another kernel build
without booting one: ``tools/simulated_kernel/sitecustomize.py`` makes
``Btf.from_sys_fs()`` return ``simulated(real)`` when ``BPFNB_SIMULATE_KERNEL=1``.

The rewrite is done on the raw records: ``PAD`` anonymous ``void *`` types are
inserted first (so every other id moves up by ``PAD``), every type reference is
rewritten, and a few structs change layout (``mm_struct`` grows by 8 bytes
after its first member, which moves ``arg_start``; ``task_struct``'s ``pid`` and ``tgid`` move by 8 bytes).
"""

from __future__ import annotations

import struct

import numpy as np

PAD = 137
# kinds whose third word is a type id
_REF3 = {2, 8, 9, 10, 11, 12, 13, 14, 17, 18}


def _name(strings: bytes, off: int) -> str:
    end = strings.index(b"\0", off)
    return strings[off:end].decode()


def simulated(data: bytes) -> bytes:
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", data)
    assert magic == 0xEB9F
    body = data[hdr_len:]
    words = np.frombuffer(body[type_off:type_off + type_len], dtype="<u4").copy()
    strings = body[str_off:str_off + str_len]
    shift = lambda t: t + PAD if t else t  # noqa: E731  (void stays 0)
    i = 0
    n = len(words)
    while i < n:
        name_off, info = int(words[i]), int(words[i + 1])
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        name = _name(strings, name_off) if name_off else ""
        if kind in _REF3:
            words[i + 2] = shift(int(words[i + 2]))
        j = i + 3
        if kind in (1, 14, 17):           # INT, VAR, DECL_TAG: one extra word
            j += 1
        elif kind == 3:                   # ARRAY: type, index type, nelems
            words[j] = shift(int(words[j]))
            words[j + 1] = shift(int(words[j + 1]))
            j += 3
        elif kind in (4, 5):              # STRUCT, UNION: name, type, offset per member
            names = [_name(strings, int(words[j + 3 * m])) if words[j + 3 * m] else "" for m in range(vlen)]
            grows = kind == 4 and "arg_start" in names            # mm_struct's (anonymous) body
            for m in range(vlen):
                k = j + 3 * m
                words[k + 1] = shift(int(words[k + 1]))
                mname = _name(strings, int(words[k])) if words[k] else ""
                if grows and m > 0:                                  # 8 bytes more after the first member
                    words[k + 2] = int(words[k + 2]) + 64
                if kind == 4 and name == "task_struct" and mname in ("pid", "tgid"):
                    words[k + 2] = int(words[k + 2]) + 64
            if grows or kind == 4 and name == "mm_struct":
                words[i + 2] = int(words[i + 2]) + 8
            j += 3 * vlen
        elif kind == 6:                   # ENUM
            j += 2 * vlen
        elif kind == 13:                  # FUNC_PROTO: name, type per param
            for m in range(vlen):
                words[j + 2 * m + 1] = shift(int(words[j + 2 * m + 1]))
            j += 2 * vlen
        elif kind == 15:                  # DATASEC: type, offset, size per var
            for m in range(vlen):
                words[j + 3 * m] = shift(int(words[j + 3 * m]))
            j += 3 * vlen
        elif kind == 19:                  # ENUM64
            j += 3 * vlen
        i = j
    pad = np.tile(np.array([0, 2 << 24, 0], dtype="<u4"), PAD)   # PAD anonymous `void *`
    types = pad.tobytes() + words.tobytes()
    header = struct.pack("<HBBIIIII", magic, version, flags, 24, 0, len(types), len(types), len(strings))
    return header + types + strings
