"""``StructOpsProgram``: a callback of a kernel ops struct (``SEC("struct_ops/...")``).

It runs when the kernel calls the member its struct_ops map put it in, so
there is no attach of its own: the *map* registers (``ebpf.maps[name].attach()``
or ``ebpf.attach()``).  Some ops types exist to be test-run (``bpf_dummy_ops``).
"""

from __future__ import annotations

import errno as _errno
from typing import Any

from ..errors import AttachError
from .base import TypedProgram

__all__ = ["StructOpsProgram"]


class StructOpsProgram(TypedProgram):
    """A struct_ops callback; registering its map is what attaches it."""

    @property
    def expected_attach_type(self) -> None:
        """None: the kernel's expected attach type for these is a member index, not an AttachType."""
        return None

    def attach(self, *args: Any, **kwargs: Any) -> Any:
        raise AttachError(_errno.EINVAL, "attach", f"program {self.name!r} is a struct_ops callback: it runs once its "
                          "struct_ops map is registered (ebpf.maps[<map>].attach() or ebpf.attach())")
