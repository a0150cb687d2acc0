"""Benchmarks of the batch → DataFrame path (``bpfnb.btf.frames``).

A million entries of ``u32`` key → 16-byte struct value (``u64 packets;
u32 bytes; u16 port; enum proto : u8; bool seen``), packed as
``BPF_MAP_LOOKUP_BATCH`` returns them, decoded into a DataFrame; then the
same with per-CPU values (long and wide layouts), and the way back.

Run either way (speed is measured here, never asserted in tests)::

    .venv/bin/pytest benchmarks/bench_codec.py          # pytest-benchmark table
    .venv/bin/python benchmarks/bench_codec.py          # entries/second, plain
"""

from __future__ import annotations

import time

import numpy as np

from bpfnb.btf import Btf, Enum, EnumValue, Int, IntEncoding, Member, Struct, Typedef
from bpfnb.btf.codec import Codec, per_cpu_stride
from bpfnb.btf.writer import write_types
from bpfnb.btf.frames import batch_from_frame, frame_from_batch

N = 1_000_000
NCPUS = 4


def _btf() -> Btf:
    types = [
        Int(1, "unsigned int", 4, IntEncoding.NONE, 0, 32),
        Int(2, "unsigned long long", 8, IntEncoding.NONE, 0, 64),
        Int(3, "unsigned short", 2, IntEncoding.NONE, 0, 16),
        Enum(4, "proto", 1, False, (EnumValue("TCP", 6), EnumValue("UDP", 17), EnumValue("ICMP", 1))),
        Int(5, "_Bool", 1, IntEncoding.BOOL, 0, 8),
        Typedef(6, "__u32", 1),
        Struct(7, "stats", 16, (Member("packets", 2, 0), Member("bytes", 1, 64), Member("port", 3, 96),
                                Member("proto", 4, 112), Member("seen", 5, 120))),
    ]
    return Btf.from_bytes(write_types(types))


BTF = _btf()
KEY = Codec(BTF, 6)
VALUE = Codec(BTF, 7)


def _batch(n: int, value_stride: int, per_entry: int = 1) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(1)
    keys = np.arange(n, dtype="<u4").tobytes()
    values = rng.integers(0, 256, size=(n * per_entry, value_stride), dtype=np.uint8)
    values[:, 14] = rng.choice([1, 6, 17, 99], size=n * per_entry)  # mostly known enum values
    values[:, 15] = rng.integers(0, 2, size=n * per_entry)
    return keys, values.tobytes()


PLAIN = _batch(N, VALUE.size)
PERCPU = _batch(N, per_cpu_stride(VALUE.size), NCPUS)


def test_bench_frame_1m(benchmark):
    df = benchmark.pedantic(frame_from_batch, args=(*PLAIN, KEY, VALUE), rounds=3, iterations=1)
    assert len(df) == N


def test_bench_frame_1m_per_cpu_long(benchmark):
    df = benchmark.pedantic(frame_from_batch, args=(*PERCPU, KEY, VALUE), kwargs={"per_cpu": NCPUS},
                            rounds=2, iterations=1)
    assert len(df) == N * NCPUS


def test_bench_frame_1m_per_cpu_wide(benchmark):
    df = benchmark.pedantic(frame_from_batch, args=(*PERCPU, KEY, VALUE),
                            kwargs={"per_cpu": NCPUS, "layout": "wide"}, rounds=2, iterations=1)
    assert len(df) == N


def test_bench_batch_from_frame_1m(benchmark):
    df = frame_from_batch(*PLAIN, KEY, VALUE)
    keys, values = benchmark.pedantic(batch_from_frame, args=(df, KEY, VALUE), rounds=3, iterations=1)
    assert len(keys) == 4 * N and len(values) == 16 * N


def _rate(label: str, entries: int, fn, *args, **kwargs) -> None:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<44} {best * 1e3:8.1f} ms  {entries / best / 1e6:6.2f} M entries/s")


if __name__ == "__main__":
    print(f"{N:,} entries, u32 key → 16-byte struct value; per-CPU with {NCPUS} CPUs")
    _rate("frame_from_batch", N, frame_from_batch, *PLAIN, KEY, VALUE)
    _rate("frame_from_batch per-CPU long", N, frame_from_batch, *PERCPU, KEY, VALUE, per_cpu=NCPUS)
    _rate("frame_from_batch per-CPU wide", N, frame_from_batch, *PERCPU, KEY, VALUE, per_cpu=NCPUS, layout="wide")
    frame = frame_from_batch(*PLAIN, KEY, VALUE)
    _rate("batch_from_frame", N, batch_from_frame, frame, KEY, VALUE)
    long = frame_from_batch(*PERCPU, KEY, VALUE, per_cpu=NCPUS)
    _rate("batch_from_frame per-CPU long", N, batch_from_frame, long, KEY, VALUE, per_cpu=NCPUS)
    t0 = time.perf_counter()
    raw = PLAIN[1]
    for i in range(0, 100_000 * 16, 16):
        VALUE.decode(raw[i : i + 16])
    per_value = (time.perf_counter() - t0) / 100_000
    print(f"{'Codec.decode, one value at a time':<44} {per_value * 1e6:8.2f} µs  {1 / per_value / 1e6:6.2f} M entries/s")
