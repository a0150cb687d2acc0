"""struct_ops: ``.struct_ops`` / ``.struct_ops.link`` maps, their programs, registration.

Needs: struct_ops maps (Linux 5.6), ``.struct_ops.link`` (BPF_F_LINK, 6.4),
the kernel's ``bpf_dummy_ops`` for a non-TCP type (test-run only: it refuses
registration).  Layout expectations come from the committed kernel BTF
snapshot or from the live BTF, never from literals of one build; libbpf
(open and load) and bpftool are the oracles.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from bpfnb import Btf, Object, examples
from bpfnb.errors import AttachError, StructOpsError, UnknownName
from bpfnb.loader import EbpfLoader
from bpfnb.obj.struct_ops import BPF_F_LINK, essential_name, match_struct_ops
from bpfnb.programs import StructOpsProgram
from bpfnb.uapi import LinkType, MapType, ProgType
from helpers import fixture_path, kernel_feature

TCP_CA_LIST = "/proc/sys/net/ipv4/tcp_available_congestion_control"
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)

#: What the C fixtures put in each function-pointer member (their source is the truth).
CALLBACKS = {
    "struct_ops_ca": {"bpfnb_ca": {"ssthresh": "bpfnb_ca_ssthresh", "cong_avoid": "bpfnb_ca_cong_avoid",
                                   "undo_cwnd": "bpfnb_ca_undo_cwnd"}},
    "struct_ops_link": {"bpfnb_ca_link": {"init": "bpfnb_link_init", "ssthresh": "bpfnb_link_ssthresh",
                                          "cong_avoid": "bpfnb_link_cong_avoid",
                                          "undo_cwnd": "bpfnb_link_undo_cwnd"},
                        "bpfnb_ca_off": {"ssthresh": "bpfnb_off_ssthresh"}},
    "struct_ops_dummy": {"bpfnb_dummy": {"test_1": "bpfnb_dummy_1", "test_2": "bpfnb_dummy_2"}},
}


def _obj(name: str) -> Object:
    return Object.from_file(fixture_path(name))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _registered() -> list[str]:
    return Path(TCP_CA_LIST).read_text().split()


def _bpftool_struct_ops() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "struct_ops", "show"], capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


# --- parse (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_struct_ops_variables_become_maps(name):
    obj = _obj(name)
    assert {n: s.programs for n, s in obj.struct_ops.items()} == CALLBACKS[name]
    for var, ops in obj.struct_ops.items():
        spec = obj.maps[var]
        struct_t = obj.btf.find(ops.type_name, kind="STRUCT")
        assert spec.map_type == MapType.STRUCT_OPS and spec.type_name == "struct_ops"
        assert (spec.key_size, spec.value_size, spec.max_entries) == (4, struct_t.size, 1)
        assert spec.map_flags == (BPF_F_LINK if ops.section.lstrip("?") == ".struct_ops.link" else 0)
        assert ops.autocreate == (not ops.section.startswith("?"))
        assert ops.data == obj.section_data(ops.section)[ops.offset : ops.offset + struct_t.size]
        for prog in ops.programs.values():
            assert obj.programs[prog].prog_type == ProgType.STRUCT_OPS


@pytest.mark.parametrize("name", ["struct_ops_ca", "struct_ops_dummy"])
def test_open_sizes_equal_libbpf(name, pin_root):
    """After open (no kernel types yet) libbpf sizes the map by the object's struct, as we do."""
    from oracles.libbpf import LibbpfObject
    from oracles.libbpf_maps import _lib, _maps

    lib = _lib()
    for fn in ("bpf_map__type", "bpf_map__key_size", "bpf_map__value_size", "bpf_map__max_entries",
               "bpf_map__map_flags"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
        getattr(lib, fn).restype = ctypes.c_uint32
    with LibbpfObject(fixture_path(name), pin_root) as lobj:
        theirs = {lib.bpf_map__name(m).decode(): (lib.bpf_map__type(m), lib.bpf_map__key_size(m),
                  lib.bpf_map__value_size(m), lib.bpf_map__max_entries(m), lib.bpf_map__map_flags(m))
                  for m in _maps(lobj)}
    ours = {n: (int(s.map_type), s.key_size, s.value_size, s.max_entries, s.map_flags) for n, s in _obj(name).maps.items()}
    assert ours == theirs


def test_layout_against_the_snapshot_kernel():
    """Every member lands where the snapshot's struct tcp_congestion_ops has it, by name, inside the wrapper."""
    kbtf = examples.kernel_btf()
    obj = _obj("struct_ops_ca")
    ops = obj.struct_ops["bpfnb_ca"]
    layout = match_struct_ops(ops, obj.btf, kbtf)
    kstruct = kbtf.find("tcp_congestion_ops", kind="STRUCT")
    wrapper = kbtf.find("bpf_struct_ops_tcp_congestion_ops", kind="STRUCT")
    data_off = next(m.offset for m in wrapper.members if kbtf.resolve(m.type_id) == kstruct.id)
    assert (layout.type_id, layout.value_type_id, layout.value_size, layout.data_offset) == (
        kstruct.id, wrapper.id, wrapper.size, data_off)
    names = [m.name for m in kstruct.members]
    for slot in layout.slots:
        assert slot.kernel_index == names.index(slot.member)
        assert slot.value_offset == data_off + kstruct.member(slot.member).offset
    assert layout.attach == {prog: names.index(member) for member, prog in ops.programs.items()}
    name_at = data_off + kstruct.member("name").offset
    assert layout.template[name_at : name_at + 9] == b"bpfnb_ca\0"
    assert not any(layout.template[:name_at]) and not any(layout.template[name_at + 16 :])
    value = layout.value({p: 100 + i for i, p in enumerate(ops.programs.values())})
    for i, member in enumerate(ops.programs):
        at = data_off + kstruct.member(member).offset
        assert struct.unpack_from("<Q", value, at)[0] == 100 + i
    assert layout.map_spec().value_size == wrapper.size
    with pytest.raises(StructOpsError, match="bpfnb_ca_ssthresh"):
        layout.value({})


def test_layout_holds_on_the_debian_kernels():
    """The same object matches the 6.1 and 6.12 structs (other member offsets, same names)."""
    obj = _obj("struct_ops_ca")
    for path in sorted(Path(__file__).parent.joinpath("testdata", "kernels").glob("*.btf.xz")):
        kbtf = Btf.from_file(path)
        layout = match_struct_ops(obj.struct_ops["bpfnb_ca"], obj.btf, kbtf, btf_name=path.name)
        kstruct = kbtf.find("tcp_congestion_ops", kind="STRUCT")
        assert layout.type_id == kstruct.id
        assert {s.member: s.kernel_index for s in layout.slots} == {
            s.member: [m.name for m in kstruct.members].index(s.member) for s in layout.slots}


@pytest.mark.parametrize("var, message", [
    ("future_knob", "member 'bpfnb_knob' is not zero, but this kernel's struct tcp_congestion_ops has no such member"),
    ("future_hook", "member 'bpfnb_hook' is set to program 'mm_hook'"),
    ("wide_flags", "member 'flags' is 8 bytes in the object, 4 in the kernel"),
])
def test_members_the_kernel_cannot_take(var, message):
    obj = _obj("struct_ops_mismatch")
    with pytest.raises(StructOpsError) as info:
        match_struct_ops(obj.struct_ops[var], obj.btf, examples.kernel_btf())
    assert message in str(info.value) and repr(var) in str(info.value)


def test_zero_members_the_kernel_lacks_are_dropped():
    obj = _obj("struct_ops_mismatch")
    ops = obj.struct_ops["future_zero"]
    assert ops.type_name == "tcp_congestion_ops___future" and essential_name(ops.type_name) == "tcp_congestion_ops"
    layout = match_struct_ops(ops, obj.btf, examples.kernel_btf())
    assert layout.skipped == ["bpfnb_knob", "bpfnb_hook"]
    assert set(layout.attach) == {"mm_ssthresh", "mm_cong_avoid", "mm_undo_cwnd"}


def test_unknown_struct_ops_type_suggests_the_kernel_one():
    obj = _obj("struct_ops_mismatch")
    with pytest.raises(UnknownName) as info:
        match_struct_ops(obj.struct_ops["typo"], obj.btf, examples.kernel_btf())
    text = str(info.value)
    assert "bpf_struct_ops_tcp_congestion_opz" in text and "did you mean 'tcp_congestion_ops'?" in text


def _parse_ca_with(relocation_offset: int, symbol_name: str):
    """The ``struct_ops_ca`` section re-parsed with one relocation replaced (pure)."""
    from bpfnb.obj.struct_ops import parse_struct_ops

    obj = _obj("struct_ops_ca")
    sec = obj.section(".struct_ops")
    symbols = [s for s in obj.symbols if s.section == ".struct_ops"]
    target = next(s for s in obj.symbols if s.name == symbol_name)
    return parse_struct_ops(obj.btf, sec.name, obj.section_data(sec), symbols, [(relocation_offset, 1, target)],
                            obj.programs)


def test_relocations_that_fill_no_callback_are_refused():
    from bpfnb.errors import SectionError

    ops = _obj("struct_ops_ca").struct_ops["bpfnb_ca"]
    undo = ops.member("undo_cwnd").offset
    assert _parse_ca_with(undo, "bpfnb_ca_ssthresh")[0].programs == {"undo_cwnd": "bpfnb_ca_ssthresh"}
    with pytest.raises(StructOpsError, match="member 'name' is not a function pointer"):
        _parse_ca_with(ops.member("name").offset, "bpfnb_ca_ssthresh")
    with pytest.raises(SectionError, match=r"relocation at \+0x21 is not at a member"):
        _parse_ca_with(undo - 15, "bpfnb_ca_ssthresh")
    with pytest.raises(StructOpsError, match="not a SEC"):
        _parse_ca_with(undo, "bpfnb_ca")  # the variable itself, not a program


def test_one_program_serves_one_member_of_one_struct():
    from dataclasses import replace

    from bpfnb.kernel.struct_ops import attach_targets

    obj = _obj("struct_ops_mismatch")
    kbtf = examples.kernel_btf()
    first = match_struct_ops(obj.struct_ops["future_zero"], obj.btf, kbtf)
    ops = obj.struct_ops["future_zero"]
    moved = replace(ops, name="moved", members=tuple(
        replace(m, program="mm_ssthresh") if m.name == "undo_cwnd" else m for m in ops.members))
    second = match_struct_ops(moved, obj.btf, kbtf)
    index = [m.name for m in kbtf.find("tcp_congestion_ops", kind="STRUCT").members].index
    assert attach_targets({"future_zero": first})["mm_ssthresh"][1] == index("ssthresh")
    with pytest.raises(StructOpsError, match="'mm_ssthresh' is used by struct_ops 'moved'"):
        attach_targets({"future_zero": first, "moved": second})


def test_views_name_members_and_programs():
    obj = _obj("struct_ops_link")
    ops = obj.struct_ops["bpfnb_ca_link"]
    html = ops._repr_html_()
    assert "BPF_LINK_CREATE" in html and "bpfnb_link_init" in html and "&#x27;bpfnb_ca_link&#x27;" in html
    frame = ops.to_dataframe()
    assert dict(zip(frame.member, frame.value))["init"] == "bpfnb_link_init"
    assert "struct_ops (2)" in obj._repr_html_()
    text = obj.summary()
    assert "bpfnb_ca_link: struct tcp_congestion_ops (64 bytes, registered by link)" in text
    layout = match_struct_ops(ops, obj.btf, examples.kernel_btf())
    assert "bpf_struct_ops_tcp_congestion_ops" in layout._repr_html_()
    assert list(layout.to_dataframe().member) == [m.name for m in ops.members]


def test_dry_run_skips_struct_ops_programs_no_variable_uses():
    p = EbpfLoader().dry_run().pipeline(fixture_path("struct_ops_mismatch")).run("relocate")
    assert "mm_unused" not in p.relocated and {"mm_ssthresh", "mm_hook"} <= set(p.relocated)
    assert "mm_optional" not in p.relocated  # only used by a "?.struct_ops" variable
    with EbpfLoader().dry_run().set_autoload("mm_unused", True).pipeline(fixture_path("struct_ops_mismatch")) as p2:
        assert "mm_unused" in p2.run("relocate").relocated


# --- in the kernel ----------------------------------------------------------------------


@pytest.mark.kernel
def test_struct_ops_map_and_programs_as_the_kernel_sees_them():
    vmlinux = Btf.from_sys_fs()
    kstruct = vmlinux.find("tcp_congestion_ops", kind="STRUCT")
    wrapper = vmlinux.find("bpf_struct_ops_tcp_congestion_ops", kind="STRUCT")
    with kernel_feature("struct_ops maps"), EbpfLoader().load_file(fixture_path("struct_ops_ca")) as ebpf:
        m = ebpf.maps["bpfnb_ca"]
        info = m.info()
        assert (info.type, info.key_size, info.value_size, info.max_entries, info.map_flags) == (
            MapType.STRUCT_OPS, 4, wrapper.size, 1, 0)
        assert (info.btf_vmlinux_value_type_id, info.btf_key_type_id, info.btf_value_type_id) == (wrapper.id, 0, 0)
        assert m.state == "init" and not m.registered
        for prog in ebpf.programs.values():
            pinfo = prog.info()
            assert (pinfo.type, pinfo.attach_btf_id) == (ProgType.STRUCT_OPS, kstruct.id)
            assert isinstance(prog, StructOpsProgram) and prog.expected_attach_type is None
            with pytest.raises(AttachError, match="struct_ops callback"):
                prog.attach()
        assert m.layout.attach == {p: [x.name for x in kstruct.members].index(mem)
                                   for mem, p in CALLBACKS["struct_ops_ca"]["bpfnb_ca"].items()}


def _use_congestion_control(name: str) -> str:
    """A loopback TCP connection under ``name``; what getsockopt says it runs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with client:
            client.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, name.encode())
            client.connect(server.getsockname())
            peer, _ = server.accept()
            with peer:
                client.sendall(b"x" * 65536)
                got = 0
                while got < 65536:
                    got += len(peer.recv(65536))
            return client.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()


@pytest.mark.kernel
def test_map_update_registers_and_delete_unregisters():
    before = _fds()
    with kernel_feature("struct_ops maps"), EbpfLoader().load_file(fixture_path("struct_ops_ca")) as ebpf:
        m = ebpf.maps["bpfnb_ca"]
        assert "bpfnb_ca" not in _registered()
        reg = m.attach()
        try:
            assert reg.attached and m.state == "inuse" and "bpfnb_ca" in _registered()
            assert {"id": m.info().id, "name": "bpfnb_ca", "kernel_struct_ops": "tcp_congestion_ops"} in _bpftool_struct_ops()
            assert _use_congestion_control("bpfnb_ca") == "bpfnb_ca"
            value = m[0]  # decoded through the kernel's wrapper: our name, the programs' ids in their slots
            # the wrapper's refcount and state moved into a 'common' member in 6.9: read the live layout
            wrapper = Btf.from_sys_fs().find("bpf_struct_ops_tcp_congestion_ops", "struct")
            header = value["common"] if "common" in {mem.name for mem in wrapper.members} else value
            assert value["data"]["name"] == "bpfnb_ca" and header["state"] == "BPF_STRUCT_OPS_STATE_INUSE"
            ids = {p.name: p.info().id for p in ebpf.programs.values()}
            assert {k: value["data"][k] for k in CALLBACKS["struct_ops_ca"]["bpfnb_ca"]} == {
                k: ids[p] for k, p in CALLBACKS["struct_ops_ca"]["bpfnb_ca"].items()}
        finally:
            reg.detach()
        assert not reg.attached and m.state == "tobefree" and "bpfnb_ca" not in _registered()
        with pytest.raises(OSError) as info:
            _use_congestion_control("bpfnb_ca")
        assert info.value.errno == errno.ENOENT
    assert _fds() == before


@pytest.mark.kernel
def test_closing_the_object_unregisters():
    map_id = None
    with kernel_feature("struct_ops maps"), EbpfLoader().load_file(fixture_path("struct_ops_ca")) as ebpf:
        attached = ebpf.attach()
        assert set(attached) == {"bpfnb_ca"} and "bpfnb_ca" in _registered()
        map_id = ebpf.maps["bpfnb_ca"].info().id
    assert "bpfnb_ca" not in _registered()
    assert map_id not in {e["id"] for e in _bpftool_struct_ops()}


@pytest.mark.kernel
def test_link_registers_and_closing_it_unregisters():
    with kernel_feature("struct_ops links"), EbpfLoader().load_file(fixture_path("struct_ops_link")) as ebpf:
        m = ebpf.maps["bpfnb_ca_link"]
        assert m.info().map_flags == BPF_F_LINK
        # the "?.struct_ops.link" variable: no map, its program not loaded, nothing to attach
        assert "bpfnb_ca_off" not in ebpf.maps and "bpfnb_off_ssthresh" not in ebpf.programs
        attached = ebpf.attach()
        assert set(attached) == {"bpfnb_ca_link"}
        link = attached["bpfnb_ca_link"]
        assert m.state == "ready"  # filled; the link, not the map, is the registration
        info = link.info()
        assert (info.type, info.details["map_id"]) == (LinkType.STRUCT_OPS, m.info().id)
        assert link.attached and "bpfnb_ca_link" in _registered()
        assert _use_congestion_control("bpfnb_ca_link") == "bpfnb_ca_link"
        link.detach()
        assert "bpfnb_ca_link" not in _registered()
        again = m.attach()  # the value stays: a second link registers it again (EBUSY on update is fine)
        assert "bpfnb_ca_link" in _registered()
    assert not again.attached and "bpfnb_ca_link" not in _registered()


@pytest.mark.kernel
def test_bpf_dummy_ops_runs_but_refuses_registration():
    """A struct_ops type that is not TCP: its programs test-run through a trampoline; registering it is refused."""
    with kernel_feature("struct_ops maps"), EbpfLoader().load_file(fixture_path("struct_ops_dummy")) as ebpf:
        assert ebpf.maps["bpfnb_dummy"].info().value_size == Btf.from_sys_fs().find(
            "bpf_struct_ops_bpf_dummy_ops", kind="STRUCT").size
        state = ctypes.c_int(41)
        run = ebpf.programs["bpfnb_dummy_1"].test_run(ctx_in=struct.pack("<Q", ctypes.addressof(state)), repeat=0)
        assert run.retval == 42
        args = struct.pack("<QQQQQ", ctypes.addressof(state), 1, 2, 3, 4)
        assert ebpf.programs["bpfnb_dummy_2"].test_run(ctx_in=args, repeat=0).retval == 0
        assert state.value == 1 + 2 + 3 + 4
        with pytest.raises(AttachError) as info:
            ebpf.maps["bpfnb_dummy"].attach()
        assert info.value.errno == errno.EOPNOTSUPP
        assert "'bpfnb_dummy'" in str(info.value) and "bpf_dummy_ops" in str(info.value)
        assert not ebpf.struct_ops["bpfnb_dummy"].attachments


@pytest.mark.kernel
def test_a_member_the_kernel_lacks_fails_the_maps_stage_and_leaks_nothing():
    before = _fds()
    with pytest.raises(StructOpsError, match="future_knob"):
        EbpfLoader().load_file(fixture_path("struct_ops_mismatch"))
    assert _fds() == before


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["struct_ops_ca", "struct_ops_dummy"])
def test_program_tags_and_maps_equal_libbpf(name, pin_root, differential):
    """libbpf loads the same object: identical program tags, and the same struct_ops map in the kernel."""
    from oracles.libbpf_maps import libbpf_loaded_maps
    from oracles.libbpf_tags import libbpf_programs

    theirs = libbpf_programs(fixture_path(name), pin_root)
    differential["libbpf"] = {n: k.tag for n, k in theirs.items()}
    their_maps = libbpf_loaded_maps(fixture_path(name), pin_root)
    with EbpfLoader().load_file(fixture_path(name)) as ebpf:
        ours = differential["bpfnb"] = {n: p.info().tag for n, p in ebpf.programs.items()}
        our_maps = {n: m.info() for n, m in ebpf.maps.items()}
    assert ours == {n: k.tag for n, k in theirs.items()}

    def shape(i):
        return (i.type, i.key_size, i.value_size, i.max_entries, i.map_flags, i.btf_vmlinux_value_type_id,
                i.btf_key_type_id, i.btf_value_type_id, bool(i.btf_id))

    assert {n: shape(i) for n, i in our_maps.items()} == {n: shape(i) for n, i in their_maps.items()}


@pytest.mark.kernel
def test_without_the_object_btf_loaded_no_struct_ops_map():
    """The kernel finds the value's counterpart through the object's BTF: without it, a typed refusal first."""
    from bpfnb.kernel.struct_ops import create_struct_ops_map

    obj = _obj("struct_ops_ca")
    before = _fds()
    with pytest.raises(StructOpsError, match="refused the object's BTF"):
        create_struct_ops_map(obj.struct_ops["bpfnb_ca"], obj.btf, btf_fd=None)
    assert _fds() == before
