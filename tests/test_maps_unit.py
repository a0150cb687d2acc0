"""The pure parts of the typed map layer: no kernel needed (these run on Binder too).

Class dispatch, update flag names, the codecs a map type implies (array
indices, LPM keys, stack traces), global-data sections seen as structs,
and event record types written in Python — checked against the layouts
clang gives the same C.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fixture_path

from bpfnb.btf.sanitize import fixup
from bpfnb.errors import BpfnbError
from bpfnb.events import define_record
from bpfnb.maps import (
    Array,
    HashMap,
    LruPerCpuHash,
    PerfEventArray,
    Queue,
    RingBuf,
    Stack,
    TypedMap,
    class_for,
    update_flags,
)
from bpfnb.maps.codecs import datasec_codec, lpm_key_codec, u32_codec, u64_array_codec
from bpfnb.obj import Object
from bpfnb.uapi import MapType

EXAMPLE = "bpfnb/examples/syscall_counter.bpf.o"


def test_dispatch():
    assert class_for(MapType.HASH) is HashMap and class_for(MapType.ARRAY) is Array
    assert class_for(MapType.LRU_PERCPU_HASH) is LruPerCpuHash
    assert class_for(MapType.QUEUE) is Queue and class_for(MapType.STACK) is Stack
    assert class_for(MapType.RINGBUF) is RingBuf and class_for(MapType.PERF_EVENT_ARRAY) is PerfEventArray
    assert class_for(MapType.SK_STORAGE) is TypedMap and class_for(12345) is TypedMap
    assert issubclass(Stack, Queue) and Array.key_column == "index"


def test_update_flags():
    assert [update_flags(f) for f in ("any", "noexist", "exist", "EXIST | lock", 2)] == [0, 1, 2, 6, 2]
    with pytest.raises(ValueError, match="unknown update flag"):
        update_flags("maybe")


def test_map_type_codecs():
    assert u32_codec().encode(7) == b"\7\0\0\0"
    lpm = lpm_key_codec(8)
    assert lpm.size == 8 and lpm.decode(b"\x18\0\0\0\x0a\1\2\0") == {"prefixlen": 24, "data": [10, 1, 2, 0]}
    st = u64_array_codec(4)
    assert st.size == 32 and st.decode(np.arange(4, dtype="<u8").tobytes()) == [0, 1, 2, 3]
    assert u64_array_codec(4) is st  # cached


def test_global_data_sections_decode_as_structs():
    obj = Object.from_file(EXAMPLE)
    btf = fixup(obj.btf, obj).btf  # DATASEC sizes and offsets as the loader fixes them
    bss = datasec_codec(btf, btf.find(".bss", "DATASEC").id)
    rodata = datasec_codec(btf, btf.find(".rodata", "DATASEC").id)
    assert bss.size == 8 and bss.decode((5).to_bytes(8, "little")) == {"events_lost": 5}
    assert rodata.size == 4 and rodata.encode({"only_pid": 42}) == (42).to_bytes(4, "little")
    assert datasec_codec(btf, btf.find(".bss", "DATASEC").id) is bss  # cached per Btf


def test_define_record_matches_clang_layout():
    obj = Object.from_file(fixture_path("perf_events"))
    clang = obj.btf.find("exec_sample", "STRUCT")
    ours = define_record("exec_sample", pid="u32", cpu_id="u32", ts_ns="u64", comm="char[16]")
    assert ours.size == clang.size
    assert [(f.name, f.offset) for f in ours.layout.fields] == [(m.name, m.bit_offset // 8) for m in clang.members]
    padded = define_record("padded", a="u8", b="u16", c="u64[2]", d="s8")
    assert [f.offset for f in padded.layout.fields] == [0, 2, 8, 24] and padded.size == 32
    with pytest.raises(BpfnbError, match="unknown type"):
        define_record("bad", x="double")
