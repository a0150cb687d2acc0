#!/usr/bin/env python3
"""Generate ``bpfnb/uapi/enums.py`` from the running kernel's BTF.

The kernel's own BTF describes its UAPI enums (helper ids, program, map,
attach, link types, commands), so the tables are derived, never hand-typed.
The output is committed so bpfnb works offline and on other kernels;
``tests/test_uapi.py`` checks it still agrees with the running kernel.

Usage: python tools/gen_uapi.py [--btf /sys/kernel/btf/vmlinux] [-o bpfnb/uapi/enums.py]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

# enum name in BTF -> (Python class name, prefix stripped from member names)
ENUMS = {
    "bpf_cmd": ("Cmd", "BPF_"),
    "bpf_prog_type": ("ProgType", "BPF_PROG_TYPE_"),
    "bpf_map_type": ("MapType", "BPF_MAP_TYPE_"),
    "bpf_attach_type": ("AttachType", "BPF_"),
    "bpf_link_type": ("LinkType", "BPF_LINK_TYPE_"),
    "bpf_func_id": ("FuncId", "BPF_FUNC_"),
    "bpf_core_relo_kind": ("CoreReloKind", "BPF_CORE_"),
    "bpf_stats_type": ("StatsType", "BPF_STATS_"),
    "perf_type_id": ("PerfType", "PERF_TYPE_"),
}

SENTINELS = ("__MAX", "MAX_BPF_", "__BPF_", "_MAX_ID", "__PERF")


def read_enums(btf_path: str) -> dict[str, list[tuple[str, int]]]:
    """Read the wanted enums from a BTF file with bpfnb's own parser."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bpfnb.btf import Btf  # noqa: E402

    btf = Btf.from_file(btf_path)
    out = {}
    for name in ENUMS:
        enum = btf.find(name, kind="ENUM")
        out[name] = [(v.name, v.value) for v in enum.values]
    return out


def render(enums: dict[str, list[tuple[str, int]]], source: str) -> str:
    lines = [
        '"""Kernel UAPI enums, generated from BTF by tools/gen_uapi.py — do not edit."""',
        "",
        "# Generated from " + source,
        "",
        "from enum import IntEnum",
        "",
        "__all__ = [" + ", ".join(repr(c) for c, _ in sorted(ENUMS.values())) + "]",
    ]
    for btf_name, (cls, prefix) in ENUMS.items():
        lines += ["", "", f"class {cls}(IntEnum):", f'    """``enum {btf_name}``."""', ""]
        members = enums[btf_name]
        # a deprecated spelling right before its replacement (CGROUP_STORAGE_DEPRECATED, CGROUP_STORAGE)
        # goes after it: the first name of a value is the one ``Enum(value).name`` gives, and bpftool
        # prints the plain one
        members = sorted(members, key=lambda mv: (members.index(mv) + (1.5 if mv[0].endswith("_DEPRECATED") else 0)))
        for member, value in members:
            if any(member.startswith(s) or member.endswith(s) for s in SENTINELS):
                continue
            short = member[len(prefix):] if member.startswith(prefix) else member
            if short[0].isdigit():
                short = "_" + short
            lines.append(f"    {short} = {value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parent.parent / "bpfnb/uapi/enums.py"))
    args = ap.parse_args(argv)
    enums = read_enums(args.btf)
    source = f"{args.btf} (Linux {platform.release()})"
    Path(args.output).write_text(render(enums, source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
