"""Field-targeted fuzzing of every parser: only BpfnbError may escape, in bounded time.

Mutations hit fields, not random bytes: ELF and section header fields, the
BTF header, words of type records (by kind), string offsets and .BTF.ext
record sizes, with boundary values (0, 1, 2^31, 2^32-1, 2^64-1...).  Each
mutated object is parsed, rendered, laid out (every map's key/value codec),
drawn (call graph), relocated in a dry-run pipeline and rendered as C.
The example database is committed (tests/hypothesis-db), so failures found
anywhere replay first everywhere.  ``BPFNB_FUZZ_EXAMPLES`` scales the run.
"""

from __future__ import annotations

import os
from contextlib import suppress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfnb import EbpfLoader
from bpfnb.btf import Btf
from bpfnb.btf.codec import Codec
from bpfnb.errors import BpfnbError
from bpfnb.obj import Object

from hardening_mutate import apply_field_mutation, btf_base, example_database, field_mutations
from helpers import fixture_path, hang_guard

SEEDS = {n: fixture_path(n).read_bytes() for n in ("multi", "map_types", "btf_kinds", "minimal", "core_min",
                                                     "packet_counter", "calls")}
EXAMPLES = int(os.environ.get("BPFNB_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=example_database(),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def exercise_object(data: bytes) -> None:
    with hang_guard(30):
        try:
            obj = Object.from_bytes(data, name="fuzz.o")
        except BpfnbError:
            return
        for view in (obj.summary, obj._repr_html_):
            with suppress(BpfnbError):
                view()
        btf = obj.btf
        if btf is not None:
            for spec in obj.maps.values():
                for tid in (spec.key_type_id, spec.value_type_id):
                    if tid:
                        with suppress(BpfnbError):
                            Codec(btf, tid).decode(bytes(Codec(btf, tid).size))
            with suppress(BpfnbError):
                btf.to_c()
        with suppress(BpfnbError):
            EbpfLoader().dry_run().pipeline(data).run()


def exercise_btf(blob: bytes) -> None:
    with hang_guard(30):
        try:
            btf = Btf.from_bytes(blob)
        except BpfnbError:
            return
        for tid in range(len(btf)):
            for call in (btf.name_of, btf.size_of, btf.align_of, lambda t: Codec(btf, t)):
                with suppress(BpfnbError):
                    call(tid)
        with suppress(BpfnbError):
            btf.to_c()


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(field_mutations(), min_size=1, max_size=3))
def test_field_mutated_objects(seed, mutations):
    data = SEEDS[seed]
    for m in mutations:
        data = apply_field_mutation(data, *m)
    exercise_object(data)


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(field_mutations(), min_size=1, max_size=3))
def test_field_mutated_btf_blobs(seed, mutations):
    data = SEEDS[seed]
    base = btf_base(data)
    import struct

    hdr_len, _, _, str_off, str_len = struct.unpack_from("<IIIII", data, base + 4)
    blob = data[base : base + hdr_len + str_off + str_len]
    for m in mutations:
        if m[0] not in ("elf_header", "section_header", "btf_ext_rec_size"):
            blob = apply_field_mutation(blob, *m)
    exercise_btf(blob)


@pytest.mark.parametrize("target", ["string_offset", "record_word", "btf_header", "section_header",
                                    "btf_ext_rec_size", "elf_header"])
def test_each_target_changes_its_field(target):
    """The mutators really mutate (a fuzzer whose mutations are no-ops finds nothing)."""
    data = SEEDS["multi"]
    assert apply_field_mutation(data, target, 1, 1, 0xFFFFFFF0) != data
