"""An experiment, not a default: run the suite against a *different* "running kernel" BTF.

    PYTHONPATH=tests .venv/bin/pytest -p mutant_btf tests -q
    PYTHONPATH=tests PYTEST_PLUGINS=mutant_btf .venv/bin/pytest tests -q   # the same, by environment

With this plugin loaded, ``bpfnb.btf.btf.SYS_BTF`` points at a directory
whose ``vmlinux`` is the running kernel's BTF changed the way another build
of the kernel would differ:

* every type id shifted by :data:`SHIFT` (new types before all others),
  so the type count changes too;
* the structs in :data:`GROW` (which no type embeds by value) grow by
  :data:`PAD` bytes at the front: every member offset and the size change.

A test that asserts a literal id, offset, size or count taken from the live
kernel fails here; a relational test (expected value computed from the live
BTF, or from the committed snapshot ``bpfnb.examples.kernel_btf()``) does
not.  Tests that hand the kernel something resolved against this BTF (CO-RE
offsets, attach BTF ids) may fail for the honest reason that the real kernel
is not the mutant; the report of such a run has to be triaged by hand.
Tests that read the BTF file should name it ``SYS_BTF / "vmlinux"``
(evaluated at import, after this plugin configured), not a literal path.

Expected failures under the mutant, all honest: programs loaded into the
real kernel with CO-RE offsets, attach BTF ids or kfunc ids taken from the
mutant (test_loader tags/examples/tracing, test_kernel_programs tp_btf/iter/
prog_flags, test_ksyms loads, test_attach_* fixtures), and the libbpf
comparisons on the running kernel (libbpf reads the real
``/sys/kernel/btf/vmlinux``, bpfnb the mutant).  Anything else failing is a
literal taken from one kernel build.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

SHIFT = 7
PAD = 64
GROW = ("task_struct", "mm_struct", "dentry", "cred", "bpf_prog_aux")


def _shift_refs(t, k: int):
    from bpfnb.btf.types import Array, Datasec, DeclTag, FuncProto, Struct

    def s(tid: int) -> int:
        return tid + k if tid else 0

    t = replace(t, id=t.id + k)
    if isinstance(t, Struct):
        return replace(t, members=tuple(replace(m, type_id=s(m.type_id)) for m in t.members))
    if isinstance(t, Array):
        return replace(t, type_id=s(t.type_id), index_type_id=s(t.index_type_id))
    if isinstance(t, FuncProto):
        return replace(t, return_type_id=s(t.return_type_id),
                       params=tuple(replace(p, type_id=s(p.type_id)) for p in t.params))
    if isinstance(t, Datasec):
        return replace(t, vars=tuple(replace(v, type_id=s(v.type_id)) for v in t.vars))
    if isinstance(t, DeclTag) or hasattr(t, "type_id"):
        return replace(t, type_id=s(t.type_id))
    return t


def _embedded_by_value(btf, ids: set[int]) -> set[int]:
    """Which of ``ids`` some struct, union or array holds by value (through modifiers)."""
    from bpfnb.btf.types import Array, Kind, Struct

    held = set()
    for tid in btf.ids_of_kind(Kind.STRUCT, Kind.UNION, Kind.ARRAY).tolist():
        t = btf[tid]
        refs = [m.type_id for m in t.members] if isinstance(t, Struct) else [t.type_id] if isinstance(t, Array) else []
        held |= {btf.resolve(r) for r in refs} & ids
    return held


def mutant_bytes(raw: bytes) -> bytes:
    """The BTF ``raw`` with ids shifted and the ``GROW`` structs padded (see the module doc)."""
    from bpfnb.btf import Btf
    from bpfnb.btf.types import Int, IntEncoding
    from bpfnb.btf.writer import write_types

    btf = Btf.from_bytes(raw)
    grow = {btf.find(n, "struct").id for n in GROW}
    inside = _embedded_by_value(btf, grow)
    assert not inside, f"embedded by value, cannot grow: {sorted(btf[i].name for i in inside)}"
    types = [Int(i, f"__bpfnb_shift{i}", 4, IntEncoding(0), 0, 32) for i in range(1, SHIFT + 1)]
    for tid in btf.own_ids:
        t = btf[tid]
        if tid in grow:
            t = replace(t, size=t.size + PAD,
                        members=tuple(replace(m, bit_offset=m.bit_offset + 8 * PAD) for m in t.members))
        types.append(_shift_refs(t, SHIFT))
    return write_types(types)


def mutant_dir() -> Path:
    """A directory holding the mutant ``vmlinux`` (built once per live BTF, kept in the temp dir)."""
    from bpfnb.btf import btf as btf_module

    raw = (btf_module.SYS_BTF / "vmlinux").read_bytes()
    key = hashlib.sha256(raw + repr((SHIFT, PAD, GROW)).encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f"bpfnb-mutant-btf-{key}"
    if not (out / "vmlinux").exists():
        out.mkdir(exist_ok=True)
        tmp = out / f"vmlinux.{os.getpid()}"
        tmp.write_bytes(mutant_bytes(raw))
        tmp.replace(out / "vmlinux")
    return out


def pytest_configure(config) -> None:
    from bpfnb.btf import btf as btf_module

    btf_module.SYS_BTF = mutant_dir()


def pytest_report_header(config) -> str:
    from bpfnb.btf import btf as btf_module

    return f"mutant kernel BTF (ids +{SHIFT}, {', '.join(GROW)} +{PAD} bytes): {btf_module.SYS_BTF / 'vmlinux'}"
