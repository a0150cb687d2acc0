"""Class 9 of issue 13: absurd map sizes are refused before BPF_MAP_CREATE.

The kernel's limits (array_map_alloc_check: value_size <= INT_MAX; per-CPU
values within PCPU_MIN_UNIT_SIZE; htab_map_alloc_check: key + value below
KMALLOC_MAX_SIZE - sizeof(struct htab_elem)) and the memory a preallocated
map needs are checked first: a MapError says why, immediately, instead of
E2BIG or seconds of the kernel zeroing gigabytes.  The boundaries were
measured on this kernel: the largest accepted sizes still create maps.
"""

from __future__ import annotations

import time

import pytest

from bpfnb.errors import KernelError, MapError
from bpfnb.kernel.map_from_spec import check_sizes, create_map
from bpfnb.kernel.memory import available_memory
from bpfnb.obj.maps import MapSpec
from bpfnb.uapi import MapType


def spec(mtype, key, value, entries, flags=0, name="big"):
    return MapSpec(name=name, map_type=mtype, key_size=key, value_size=value, max_entries=entries, map_flags=flags)


REFUSED = [
    (spec(MapType.ARRAY, 4, 1 << 31, 1), "INT_MAX"),
    (spec(MapType.PERCPU_ARRAY, 4, 32769, 1), "PCPU_MIN_UNIT_SIZE"),
    (spec(MapType.PERCPU_HASH, 4, 40000, 1), "PCPU_MIN_UNIT_SIZE"),
    (spec(MapType.HASH, 4, 4194256, 1), "KMALLOC_MAX_SIZE"),
    (spec(MapType.LRU_HASH, 4194200, 100, 1), "KMALLOC_MAX_SIZE"),
    (spec(MapType.ARRAY, 4, 1 << 30, 4096), "kernel memory"),
    (spec(MapType.HASH, 8, 1 << 20, 1 << 20), "kernel memory"),
]


@pytest.mark.parametrize("bad,why", REFUSED, ids=[f"{s.type_name}-{w}" for s, w in REFUSED])
def test_absurd_sizes_are_map_errors(bad, why):
    if why == "kernel memory" and available_memory() is None:
        pytest.skip("no MemAvailable in /proc/meminfo")
    with pytest.raises(MapError, match=why) as info:
        check_sizes(bad)
    assert "'big'" in str(info.value)


@pytest.mark.kernel
@pytest.mark.parametrize("bad,why", REFUSED, ids=[f"{s.type_name}-{w}" for s, w in REFUSED])
def test_refused_before_the_syscall(bad, why):
    start = time.monotonic()
    with pytest.raises(MapError, match=why):
        create_map(bad)
    assert time.monotonic() - start < 1.0


ACCEPTED = [
    spec(MapType.PERCPU_ARRAY, 4, 32768, 1),
    spec(MapType.HASH, 4, 4194248, 1),
    spec(MapType.HASH, 8, 1 << 20, 1 << 20, flags=1),  # BPF_F_NO_PREALLOC: nothing up front
    spec(MapType.ARRAY, 4, 8, 1),
]


@pytest.mark.kernel
@pytest.mark.parametrize("good", ACCEPTED, ids=[f"{s.type_name}-{s.value_size}" for s in ACCEPTED])
def test_largest_accepted_sizes_still_create(good):
    check_sizes(good)
    try:
        created = create_map(good)
    except KernelError as exc:  # the check must never be stricter than the kernel
        pytest.fail(f"kernel refused a size the check accepts: {exc}")
    created.map.close()


@pytest.mark.kernel
def test_kernel_agrees_with_the_limits():
    """Bypassing the check, the kernel refuses the static limits with E2BIG (so they are real)."""
    from bpfnb.kernel.syscall import map_create

    for bad, why in REFUSED:
        if why == "kernel memory":
            continue
        with pytest.raises(KernelError) as info:
            map_create(int(bad.map_type), bad.key_size, bad.value_size, bad.max_entries, map_flags=bad.map_flags)
        assert info.value.errno == 7, (bad, info.value)  # E2BIG
