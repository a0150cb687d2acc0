"""Loading BTF into the kernel: a raw blob, or an object's ``.BTF`` made loadable.

The pure work (fix-up, sanitization) is in :mod:`bpfnb.btf.sanitize`; this
module adds the two things that need the kernel: which BTF kinds it
accepts (from the cached feature probes) and ``BPF_BTF_LOAD`` itself.

When the kernel refuses an object's BTF, libbpf carries on and loads the
programs without func/line info (``"BTF is optional, ignoring"``).  Two
ways to get that behaviour::

    try:
        btf = load_object_btf(obj)
    except BtfLoadError as exc:        # exc.log: the kernel's BTF checker
        btf = None

    btf = load_object_btf(obj, optional=True)   # None instead, logged as a warning

and pass ``btf.fd if btf else None`` as ``prog_btf_fd``/``btf_fd``.
"""

from __future__ import annotations

import functools
import logging
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..btf.sanitize import BtfFeatures, Change, FixupResult, SanitizeResult, fixup, sanitize
from ..errors import BtfError, BtfLoadError, KernelError
from .fd import Fd
from .features import Features, Support
from .info import btf_info
from .owned import FdOwner
from .syscall import btf_load

if TYPE_CHECKING:
    import pandas

    from ..btf import Btf
    from ..obj import Object

__all__ = [
    "QMARK_DATASEC_MIN_KERNEL", "LoadedBtf", "LoadedObjectBtf", "features_for_btf", "load_btf", "load_object_btf",
    "probe_qmark_datasec",
]

log = logging.getLogger(__name__)

#: ``BtfFeatures`` flag → ``Features`` probe.
FEATURE_PROBES = {
    "func": "btf_func",
    "func_global": "btf_func_global",
    "datasec": "btf_datasec",
    "float": "btf_float",
    "decl_tag": "btf_decl_tag",
    "type_tag": "btf_type_tag",
    "enum64": "btf_enum64",
}
#: The release whose ``btf_name_valid_section`` takes any printable DATASEC name
#: ("bpf: Allow any printable character in BTF DATASEC names"); before it, only
#: ``[A-Za-z_.][A-Za-z0-9_.]*`` (Debian's 6.1 refuses ``.data.<i>&amp;``).
QMARK_DATASEC_MIN_KERNEL = "6.5"


def _blob(types: bytes, strings: bytes) -> bytes:
    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings)) + types + strings


@functools.cache
def probe_qmark_datasec() -> Support:
    """Does this kernel take any printable DATASEC name (``?.data``)?  Linux 6.5 does (see above).

    Not among :mod:`bpfnb.kernel.features`' probes, so probed here, once.
    """
    strings = b"\0int\0x\0?.data\0"
    types = (
        struct.pack("<IIII", 1, 1 << 24, 4, 1 << 24 | 32)             # [1] int
        + struct.pack("<IIII", 5, 14 << 24, 1, 1)                     # [2] int x (global)
        + struct.pack("<IIIIII", 7, 15 << 24 | 1, 4, 2, 0, 4)         # [3] DATASEC "?.data" { x }
    )
    try:
        btf_load(_blob(types, strings))[0].close()
    except BtfLoadError:
        return Support.NO
    except KernelError:
        return Support.UNKNOWN
    return Support.YES


def features_for_btf(features: Features | None = None) -> BtfFeatures:
    """The BTF kinds this kernel accepts, from the feature probes.

    Only a definite ``NO`` turns a kind off: an UNKNOWN answer means the
    probe could not run (no privileges), and then nothing will be loaded
    anyway, so the BTF is left as modern as it is.
    """
    if features is None:
        from .features import features as probe

        features = probe()
    flags = {flag: getattr(features, name) is not Support.NO for flag, name in FEATURE_PROBES.items()}
    flags["qmark_datasec"] = not features.privileged or probe_qmark_datasec() is not Support.NO
    return BtfFeatures(**flags)


@dataclass
class LoadedBtf(FdOwner):
    """A BTF object in the kernel: owns its ``fd``; ``id`` as the kernel numbers it.

    ``log`` is the kernel's BTF log ("" unless ``log_level`` was set);
    ``data`` the exact bytes that were loaded.
    """

    fd: Fd
    id: int
    data: bytes = field(repr=False)
    log: str = field(default="", repr=False)
    _btf: Btf | None = field(default=None, repr=False)

    @property
    def btf(self) -> Btf:
        """The loaded bytes parsed back (what ``bpftool btf dump id`` shows)."""
        if self._btf is None:
            from ..btf import Btf

            self._btf = Btf.from_bytes(self.data, source=f"btf id {self.id}")
        return self._btf

    @property
    def strings(self) -> bytes:
        """The string section as loaded: line_info and func_info offsets index it."""
        return self.btf._strings.data

    def string_offset(self, text: str) -> int:
        """Offset of ``text`` in the loaded string section (first occurrence).

        Fix-up and sanitization only append strings, so every offset of the
        object's own ``.BTF`` is still valid here; this is for the appended
        ones, or for checking.
        """
        offsets = self.btf._strings.offsets_of(text)
        if not offsets:
            from ..errors import UnknownName

            raise UnknownName(f"string {text!r} is not in BTF id {self.id}")
        return offsets[0]


    def __repr__(self) -> str:
        state = " closed" if self.fd.closed else ""
        return f"<{type(self).__name__} id={self.id} {len(self.data)} bytes{state}>"


def load_btf(data: bytes, *, log_level: int = 0) -> LoadedBtf:
    """``BPF_BTF_LOAD`` a raw blob; BtfLoadError (with the kernel's log) when refused."""
    data = bytes(data)
    fd, text = btf_load(data, log_level=log_level)
    try:
        info = btf_info(fd)
    except BaseException:
        fd.close()
        raise
    return LoadedBtf(fd, info.id, data, text)


@dataclass(repr=False)
class LoadedObjectBtf(LoadedBtf):
    """An object's BTF after fix-up, sanitization and load.

    Type ids are the object's own (replacements were made in place), and
    so are the string offsets (strings were only appended): the object's
    func_info, line_info and map key/value type ids apply unchanged.
    """

    fixup: FixupResult | None = None
    sanitized: SanitizeResult | None = None
    features: BtfFeatures = field(default_factory=BtfFeatures)

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change, fix-up first, then sanitization."""
        out: tuple[Change, ...] = ()
        if self.fixup is not None:
            out += self.fixup.changes
        if self.sanitized is not None:
            out += self.sanitized.changes
        return out

    def _repr_html_(self) -> str:
        from ..display.sanitize import loaded_html

        return loaded_html(self)

    def to_dataframe(self) -> pandas.DataFrame:
        from ..display.sanitize import changes_frame

        return changes_frame(self.changes)


def load_object_btf(obj: Object, *, features: BtfFeatures | Features | None = None, log_level: int = 0,
                    optional: bool = False) -> Any:
    """Fix up, sanitize for ``features`` (default: this kernel's) and load ``obj``'s BTF.

    Returns a :class:`LoadedObjectBtf`.  Raises :class:`BtfError` when the
    object has no BTF or its BTF cannot be fixed up, and
    :class:`BtfLoadError` (``.log`` holds the kernel's reasons) when the
    kernel refuses it; with ``optional=True`` both give ``None`` instead,
    logged as a warning, so that programs can load without BTF as libbpf's do.
    """
    try:
        if obj.btf is None:
            raise BtfError(f"{obj.name}: no .BTF section")
        if features is None or isinstance(features, Features):
            features = features_for_btf(features)
        fixed = fixup(obj.btf, obj)
        clean = sanitize(fixed.btf, features)
        loaded = load_btf(clean.data, log_level=log_level)
    except (BtfError, BtfLoadError) as exc:
        if not optional:
            raise
        log.warning("%s: loading without BTF: %s", obj.name, exc)
        return None
    return LoadedObjectBtf(loaded.fd, loaded.id, loaded.data, loaded.log, clean.btf, fixup=fixed, sanitized=clean,
                           features=features)
