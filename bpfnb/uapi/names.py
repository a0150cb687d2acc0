"""Object names as the kernel takes them (``BPF_OBJ_NAME_LEN``): one rule for maps and programs."""

from __future__ import annotations

__all__ = ["BPF_OBJ_NAME_LEN", "sanitize_name"]

#: ``char map_name[BPF_OBJ_NAME_LEN]`` / ``prog_name`` in ``union bpf_attr``: 15 bytes and a NUL.
BPF_OBJ_NAME_LEN = 16


def sanitize_name(name: str) -> bytes:
    """A prog/map name the kernel accepts: [A-Za-z0-9_.] only, at most 15 bytes.

    The kernel refuses (EINVAL) any other character and needs a NUL within
    16 bytes, so like libbpf we replace the rest with ``_`` and truncate
    rather than fail a load over a cosmetic name.
    """
    out = bytes(c if (chr(c).isascii() and (chr(c).isalnum() or c in b"_.")) else ord("_") for c in name.encode())
    return out[: BPF_OBJ_NAME_LEN - 1]
