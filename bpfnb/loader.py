"""``EbpfLoader``: the loading stages, one call at a time or all at once.

Seeded by Aya's ``EbpfLoader::load``: parse → BTF → maps → relocate → load.
``EbpfLoader.pipeline(path)`` returns a :class:`Pipeline` whose stages run
one call at a time, each returning a stage result that renders what it did
(the widget and the notebooks drive this); ``EbpfLoader.load_file(path)``
runs the same stages in one go.

Privilege decides how far the kernel is involved.  With CAP_BPF (or
CAP_SYS_ADMIN) every stage makes its syscalls.  Without, the pipeline is an
explicit *dry run*: BTF is fixed up and sanitized but not loaded, maps get
placeholder fds, relocation happens for real against those placeholders,
and loading is skipped with a note saying why.  Nothing claims to have
loaded.  Every kernel object a stage creates is owned by the pipeline and
closed by :meth:`Pipeline.close` — which also runs when a stage fails, so a
failed load leaves no maps behind.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._gc import paused_gc
from .errors import (BpfnbError, BtfError, BtfLoadError, KernelError, KsymTypeMismatch, NameTable, UnknownName,
                     UnknownSymbol)
from .obj import Object, RelocatedProgram, placeholder_fds, relocate
from .uapi import AttachType, ProgType

if TYPE_CHECKING:
    from .btf import Btf
    from .btf.core import CoreRelocationTable
    from .kernel.btf import LoadedObjectBtf
    from .kernel.fd import Fd
    from .kernel.ksyms import ModuleBtfFds
    from .obj.ksyms import KsymTable
    from .kernel.maps_stage import MapsResult
    from .kernel.struct_ops import StructOps
    from .maps import TypedMap
    from .obj import ProgramSpec
    from .programs import TypedProgram

__all__ = ["STAGES", "Ebpf", "EbpfLoader", "Pipeline", "StageResult"]

def frameless(exc: BaseException) -> BaseException:
    """A copy of ``exc`` without traceback, cause or context, for keeping.

    A stored exception keeps its traceback's frames alive, and those frames
    refer back to the object storing it: a reference cycle through every
    local of every frame of the failed stage.  Clearing such a cycle can
    crash CPython when a local is a memoryview with an exported buffer
    (gh-77894).  The raised exception keeps its traceback; the stored copy
    has none.  Falls back to the exception itself with its frames cleared
    when it cannot be copied.
    """
    import copy
    import traceback

    try:
        kept = copy.copy(exc)
        if type(kept) is not type(exc) or str(kept) != str(exc):
            raise TypeError("copy differs")
    except Exception:
        traceback.clear_frames(exc.__traceback__)
        return exc
    kept.__dict__.update(exc.__dict__)  # attributes set after construction (verifier_log, program...)
    kept.__traceback__ = None
    kept.__cause__ = kept.__context__ = None
    kept.__suppress_context__ = True
    return kept


#: The stages in order; each is a method ``Pipeline._run_<stage>``.
STAGES = ("parse", "btf", "maps", "relocate", "load")


@dataclass
class LoaderOptions:
    """Aya's loader options, plus the ones a notebook needs (dry run)."""

    target_btf: Btf | None = None
    pin_root: str | None = None
    globals: dict[str, Any] = field(default_factory=dict)
    must_exist: set[str] = field(default_factory=set)
    max_entries: dict[str, int] = field(default_factory=dict)
    extensions: set[str] = field(default_factory=set)
    log_level: int = 0
    allow_unsupported_maps: bool = False
    autoload: dict[str, bool] = field(default_factory=dict)
    #: program -> (program type, expected attach type or None to keep the section's)
    program_types: dict[str, tuple[ProgType, AttachType | None]] = field(default_factory=dict)
    #: None: decide from the process's privileges; True: never make syscalls.
    dry_run: bool | None = None

    def copy(self) -> LoaderOptions:
        """A copy whose dicts and sets are its own: a pipeline keeps the options it was made with,
        whatever the builder is told afterwards.  BTF objects are shared (they are immutable)."""
        return replace(self, **{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)
                                if isinstance(getattr(self, f.name), (dict, set, list))})


def _enum_value(enum: Any, value: Any, prefix: str, what: str) -> Any:
    """An enum member from itself, its number or its (case-insensitive, optionally prefixed) name."""
    if isinstance(value, enum):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum(value)
        except ValueError:
            raise UnknownName(f"no {what} number {value}") from None
    if isinstance(value, str):
        key = value.strip().upper()
        key = key.removeprefix(prefix)
        if key in enum.__members__:
            return enum[key]
        raise UnknownName(f"no {what} {value!r} (known: {', '.join(m.lower() for m in enum.__members__)})")
    raise TypeError(f"{what} must be a {enum.__name__}, a name or a number, not {value!r}")


class EbpfLoader:
    """Builder for loading an eBPF object (options chain: ``EbpfLoader().target_btf(b).load_file(p)``)."""

    def __init__(self) -> None:
        self.options = LoaderOptions()

    def target_btf(self, btf: Btf | None) -> EbpfLoader:
        """Target BTF for CO-RE relocations only (libbpf's ``btf_custom_path``; default: the running kernel's).

        Attach targets (``tp_btf``, ``fentry``, ``lsm``, ``iter``), ``__ksym``
        variables and kfuncs always resolve against the running kernel's
        vmlinux and module BTF: the program is loaded into *this* kernel.
        """
        self.options.target_btf = btf
        return self

    def btf(self, btf: Btf | None) -> EbpfLoader:
        """Alias of :meth:`target_btf` (Aya's spelling)."""
        return self.target_btf(btf)

    def map_pin_path(self, path: str | os.PathLike[str]) -> EbpfLoader:
        """Directory for maps declared with ``LIBBPF_PIN_BY_NAME``."""
        self.options.pin_root = os.fspath(path)
        return self

    def set_global(self, name: str, value: Any, must_exist: bool = True) -> EbpfLoader:
        """Override a global variable's initial value (typed through its BTF)."""
        self.options.globals[name] = value
        if must_exist:
            self.options.must_exist.add(name)
        else:
            self.options.must_exist.discard(name)
        return self

    def set_max_entries(self, name: str, max_entries: int) -> EbpfLoader:
        self.options.max_entries[name] = max_entries
        return self

    def extension(self, name: str) -> EbpfLoader:
        """Treat program ``name`` as a freplace extension (loaded on attach)."""
        self.options.extensions.add(name)
        return self

    def verifier_log_level(self, level: int) -> EbpfLoader:
        self.options.log_level = level
        return self

    def allow_unsupported_maps(self) -> EbpfLoader:
        self.options.allow_unsupported_maps = True
        return self

    def set_autoload(self, program: str, autoload: bool) -> EbpfLoader:
        """Skip (False) or load (True) one program, as libbpf's autoload."""
        self.options.autoload[program] = autoload
        return self

    def set_program_type(self, program: str, prog_type: ProgType | str | int,
                         expected_attach_type: AttachType | str | int | None = None) -> EbpfLoader:
        """Load ``program`` as ``prog_type`` whatever its section says (libbpf's ``bpf_program__set_type``).

        For sections without a standard name (``SEC("socket/foo")``,
        custom names).  ``expected_attach_type`` is libbpf's
        ``bpf_program__set_expected_attach_type``; None keeps the one the
        section gave (none for an unknown section), as libbpf does.  Types
        and attach types are enum members, their names (``"socket_filter"``,
        ``"cgroup_inet_ingress"``, case-insensitive, with or without the
        ``BPF_PROG_TYPE_``/``BPF_`` prefix) or numbers.
        """
        ptype = _enum_value(ProgType, prog_type, "BPF_PROG_TYPE_", "program type")
        attach = None if expected_attach_type is None else _enum_value(
            AttachType, expected_attach_type, "BPF_", "attach type")
        self.options.program_types[program] = (ptype, attach)
        return self

    def dry_run(self, dry: bool = True) -> EbpfLoader:
        """Force a dry run even when privileged (or, with False, forbid one)."""
        self.options.dry_run = dry
        return self

    def pipeline(self, source: str | os.PathLike[str] | bytes | Object) -> Pipeline:
        return Pipeline(source, self.options.copy())

    def load_file(self, path: str | os.PathLike[str]) -> Ebpf:
        return self.pipeline(path).run_all()

    def load(self, source: bytes | Object) -> Ebpf:
        return self.pipeline(source).run_all()


@dataclass
class StageResult:
    """What one stage did: renders as a short report of its changes."""

    stage: str
    dry_run: bool
    summary: str
    detail: Any = None
    note: str = ""
    #: Further views shown after the detail, by title (the relocate stage's ``__ksym`` resolution).
    tables: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        flag = " (dry run)" if self.dry_run else ""
        return f"<StageResult {self.stage}{flag}: {self.summary}>"

    def _repr_html_(self) -> str:
        from .display.loader import stage_html

        return stage_html(self)


class Pipeline:
    """The loading stages of one object, run one call at a time."""

    def __init__(self, source: str | os.PathLike[str] | bytes | Object, options: LoaderOptions | None = None):
        from .kernel.features import can_use_bpf

        self.source = source
        self.options = options or LoaderOptions()
        privileged = can_use_bpf() if self.options.dry_run is None else not self.options.dry_run
        if self.options.dry_run is False and not can_use_bpf():
            from .errors import NotPrivileged

            raise NotPrivileged("EbpfLoader", "dry_run(False) asked for real syscalls, but this process lacks CAP_BPF/CAP_SYS_ADMIN")
        self.dry_run = not privileged
        self.results: dict[str, StageResult] = {}
        self.errors: dict[str, BpfnbError] = {}
        self.obj: Object | None = None
        self.btf: LoadedObjectBtf | None = None  # when the object's BTF is loaded
        self.maps: MapsResult | None = None  # None in a dry run
        self.map_fds: dict[str, int] = {}
        self.relocated: dict[str, RelocatedProgram] = {}
        self.core: CoreRelocationTable | None = None  # when the object has CO-RE records
        self.ksyms: KsymTable | None = None  # when the object has __ksym externs: where each resolved
        self.ksym_fds: ModuleBtfFds | None = None  # BTF fds of the modules those live in, until loaded
        self.programs: dict[str, TypedProgram] = {}  # name -> loaded program, typed (Xdp, TracePoint...)
        self.struct_ops: dict[str, StructOps] = {}  # map name -> registered-or-not struct_ops, after load
        self.program_errors: dict[str, BpfnbError] = {}
        self._closed = False

    # --- driving -------------------------------------------------------------

    @property
    def next_stage(self) -> str | None:
        return next((s for s in STAGES if s not in self.results), None)

    def next(self) -> StageResult:
        """Run the next stage and return its result."""
        stage = self.next_stage
        if stage is None:
            raise BpfnbError("every stage has run")
        if self.errors:
            failed = next(iter(self.errors))
            raise BpfnbError(f"stage {failed!r} failed; the pipeline cannot continue: {self.errors[failed]}")
        try:
            with paused_gc():  # each stage builds objects the result keeps (see bpfnb._gc)
                result = getattr(self, f"_run_{stage}")()
        except BpfnbError as exc:
            self.errors[stage] = frameless(exc)  # type: ignore[assignment]
            self.close()
            raise
        except BaseException:
            self.close()
            raise
        self.results[stage] = result
        return result

    def run(self, until: str = "load") -> Pipeline:
        """Run stages up to and including ``until``."""
        if until not in STAGES:
            raise UnknownName(f"no stage {until!r} (stages: {', '.join(STAGES)})")
        while self.next_stage is not None and STAGES.index(self.next_stage) <= STAGES.index(until):
            self.next()
        return self

    def run_all(self) -> Ebpf:
        """Run every remaining stage; the loaded objects, or a dry-run view."""
        self.run("load")
        if self.program_errors and not self.dry_run:
            name, exc = next(iter(self.program_errors.items()))
            self.close()
            raise exc
        return self.ebpf()

    def ebpf(self) -> Ebpf:
        """The live result: maps and programs (empty in a dry run)."""
        return Ebpf(self)

    # --- stages ----------------------------------------------------------------

    def _run_parse(self) -> StageResult:
        src = self.source
        if isinstance(src, Object):
            obj = src
        elif isinstance(src, (bytes, bytearray, memoryview)):
            obj = Object.from_bytes(bytes(src))
        else:
            obj = Object.from_file(src)
        self.obj = obj
        summary = f"{len(obj.programs)} programs, {len(obj.functions)} functions, {len(obj.maps)} maps, {len(obj.data)} data sections"
        return StageResult("parse", False, summary, detail=obj)

    def _run_btf(self) -> StageResult:
        obj = self._require_obj()
        if obj.btf is None:
            return StageResult("btf", self.dry_run, "the object has no BTF", note="programs load without func/line info")
        from .btf.sanitize import BtfFeatures, loadable_btf

        if self.dry_run:
            data, changes = loadable_btf(obj, BtfFeatures.all())
            return StageResult(
                "btf", True, f"fixed up: {len(changes)} changes; not loaded (no privileges)",
                detail=changes, note="BPF_BTF_LOAD needs CAP_BPF",
            )
        from .kernel.btf import load_object_btf

        try:
            self.btf = load_object_btf(obj, log_level=1 if self.options.log_level else 0)
        except (BtfLoadError, BtfError) as exc:
            # As libbpf does: without loadable BTF, programs load without it.
            return StageResult("btf", False, "the kernel refused the object's BTF; loading without it",
                               detail=frameless(exc), note=str(exc))
        return StageResult("btf", False, f"loaded as BTF id {self.btf.id} ({len(self.btf.changes)} fix-ups)", detail=self.btf)

    def _run_maps(self) -> StageResult:
        obj = self._require_obj()
        if self.dry_run:
            self.map_fds = placeholder_fds(obj)
            return StageResult(
                "maps", True, f"{len(self.map_fds)} maps would be created (placeholder fds)",
                detail=dict(self.map_fds), note="BPF_MAP_CREATE needs CAP_BPF: fds are placeholders",
            )
        from .kernel.maps_stage import create_maps

        self.maps = create_maps(
            obj,
            btf_fd=self._btf_fd(),
            pin_root=self.options.pin_root,
            max_entries=self.options.max_entries,
            globals=self._globals(obj),
            allow_unsupported=self.options.allow_unsupported_maps,
        )
        self.map_fds = self.maps.fds()
        return StageResult("maps", False, f"{len(self.map_fds)} maps ready", detail=self.maps)

    def _run_relocate(self) -> StageResult:
        obj = self._require_obj()
        loading = [spec for name, spec in obj.programs.items() if self.options.autoload.get(name, self._autoload(spec))]
        self.core = self._core_relocations(obj, loading)
        self.ksyms = self._resolve_ksyms(obj)
        for spec in loading:
            try:
                self.relocated[spec.name] = relocate(obj, self._typed_spec(spec), self.map_fds, core=self.core,
                                                     ksyms=self.ksyms)
            except (UnknownSymbol, KsymTypeMismatch) as exc:
                if getattr(exc, "ksym", None) is None:
                    raise
                # a __ksym this kernel lacks (strong) or has with another type: this program's error
                self.program_errors[spec.name] = frameless(exc)
        applied = sum(len(r.applied) for r in self.relocated.values())
        summary = f"{len(self.relocated)} programs, {applied} instructions patched"
        if self.program_errors:
            summary += f", {len(self.program_errors)} not relocatable ({', '.join(self.program_errors)})"
        if self.core is not None:
            summary += f", {len(self.core.relocations)} CO-RE records resolved against {self.core.target}"
        tables = {}
        if self.ksyms:
            summary += f", {self.ksyms.summary()}"
            tables["__ksym externs"] = self.ksyms
        return StageResult("relocate", self.dry_run, summary, detail={**self.relocated, **self.program_errors},
                           tables=tables)

    def _resolve_ksyms(self, obj: Object) -> KsymTable | None:
        """``__ksym`` externs (kfuncs, kernel variables) looked up in the target kernel."""
        from .obj.ksyms import ksym_externs

        if not ksym_externs(obj):
            return None
        from .kernel.ksyms import bind_module_fds, resolve_ksyms

        targets = resolve_ksyms(obj, strict=False)  # the running kernel's, whatever the CO-RE target
        # externs a module defines name its BTF object: an fd per module, owned until the load is done
        # (a dry run numbers placeholders instead, as for maps)
        targets, self.ksym_fds = bind_module_fds(targets, placeholder_start=2000 if self.dry_run else None)
        return targets

    def _core_relocations(self, obj: Object, loading: list[ProgramSpec]) -> CoreRelocationTable | None:
        """CO-RE records of the programs that load (and their subprograms), against the target BTF.

        Resolved once per object with one candidate cache, in libbpf's
        record order; records of programs with autoload off are not looked
        at, so an ambiguous one there cannot abort the others (libbpf and
        cilium/ebpf relocate only what they load).
        """
        if obj.btf_ext is None or not obj.btf_ext.core_relos:
            return None
        from .btf import Btf
        from .obj.callgraph import reachable_functions
        from .obj.core import core_relocations

        only = {spec.name for spec in loading}
        for spec in loading:
            only.update(f.name for f in reachable_functions(obj, spec))
        target = self.options.target_btf if self.options.target_btf is not None else Btf.from_sys_fs()
        return core_relocations(obj, target, only=only)  # the running kernel unless told otherwise, as aya does

    def _run_load(self) -> StageResult:
        if self.dry_run:
            return StageResult(
                "load", True, f"{len(self.relocated)} programs not loaded (no privileges)",
                detail={n: None for n in self.relocated}, note="BPF_PROG_LOAD needs CAP_BPF; the relocated programs above are what would be sent",
            )
        from .kernel.programs import load_program
        from .programs import typed

        struct_ops = self._struct_ops_targets()  # program -> (kernel struct, member index)
        for name, rel in self.relocated.items():
            if name in self.options.extensions:
                continue  # freplace programs load when their target is known
            try:
                # typed: Xdp, TracePoint... each with its own attach(); closing one detaches its links
                attach_btf, member = struct_ops.get(name, (None, None))
                self.programs[name] = typed(load_program(
                    rel, btf_fd=self._btf_fd(), log_level=self.options.log_level,
                    attach_btf=attach_btf, expected_attach_type=member,
                ))
            except (KernelError, UnknownName) as exc:
                # the verifier's verdict, or an attach target / program type this kernel lacks:
                # that program's error, the others still load (kept without its frames)
                self.program_errors[name] = frameless(exc)  # type: ignore[assignment]
        if not self.options.extensions & set(self.relocated):
            # the loaded programs hold their own references on module BTFs; freplace programs still
            # to load (by the caller, from self.relocated) keep the fds their fd_array names until close()
            self._close_ksym_fds()
        filled = self._fill_prog_arrays()
        self._bind_struct_ops()
        ok = len(self.programs)
        summary = f"{ok} of {len(self.relocated) + len(self._relocate_errors())} programs loaded"
        if filled:
            summary += f", {filled} prog-array slots filled"
        return StageResult("load", False, summary, detail={**self.programs, **self.program_errors})

    def _fill_prog_arrays(self) -> int:
        """Initial slots of prog arrays (``.values = { [0] = &prog }``): set once programs exist.

        A slot naming a program that did not load stays empty, as libbpf
        leaves it; the load result already reports that program's error.
        """
        from .uapi import MapType

        filled = 0
        for name, spec in self._require_obj().maps.items():
            if spec.map_type != MapType.PROG_ARRAY or not spec.init_slots or name not in self.maps:
                continue
            live = self.maps[name]
            for index, prog_name in spec.init_slots:
                prog = self.programs.get(prog_name)
                if prog is None:
                    continue
                live.update(index.to_bytes(4, "little"), prog.fd.fileno().to_bytes(4, "little"))
                filled += 1
        return filled

    # --- struct_ops (bpfnb/obj/struct_ops.py, bpfnb/kernel/struct_ops.py) ------------

    def _autoload(self, spec: Any) -> bool:
        """A struct_ops program no struct_ops variable uses is not loaded (libbpf 1.4+): it has no struct to attach to."""
        if spec.prog_type != ProgType.STRUCT_OPS:
            return True
        return any(spec.name in ops.programs.values() for ops in self._require_obj().struct_ops.values()
                   if ops.autocreate)

    def _struct_ops_layouts(self) -> dict[str, Any]:
        """map name -> KernelStructOps, as the maps stage laid each struct_ops map out."""
        if self.maps is None:
            return {}
        return {r.name: r.struct_ops for r in self.maps.records if r.struct_ops is not None}

    def _struct_ops_targets(self) -> dict[str, Any]:
        """program -> (kernel struct as attach target, member index)."""
        layouts = self._struct_ops_layouts()
        if not layouts:
            return {}
        from .kernel.struct_ops import attach_targets

        return attach_targets(layouts)

    def _bind_struct_ops(self) -> None:
        """Each struct_ops map with its layout and loaded programs, ready to register."""
        from .kernel.struct_ops import StructOps

        for name, layout in self._struct_ops_layouts().items():
            progs = {p: self.programs[p] for p in layout.attach if p in self.programs}
            self.struct_ops[name] = StructOps(self.maps[name], layout, progs)

    # --- helpers ----------------------------------------------------------------

    def _relocate_errors(self) -> list[str]:
        return [n for n in self.program_errors if n not in self.relocated]

    def _typed_spec(self, spec: ProgramSpec) -> ProgramSpec:
        """The program's spec with a ``set_program_type`` override applied."""
        override = self.options.program_types.get(spec.name)
        if override is None:
            return spec
        ptype, attach = override
        return replace(spec, prog_type=ptype,
                       expected_attach_type=spec.expected_attach_type if attach is None else attach)

    def _globals(self, obj: Object) -> dict[str, Any]:
        """``set_global`` values, without those set with ``must_exist=False`` that the object lacks."""
        names = {v.name for d in obj.data.values() for v in d.variables}
        return {k: v for k, v in self.options.globals.items() if k in names or k in self.options.must_exist}

    def _require_obj(self) -> Object:
        if self.obj is None:
            raise BpfnbError("the parse stage has not run")
        return self.obj

    def _btf_fd(self) -> Fd | None:
        return self.btf.fd if self.btf is not None else None

    def _close_ksym_fds(self) -> None:
        if self.ksym_fds is not None:
            self.ksym_fds.close()

    def close(self) -> None:
        """Close every kernel object the pipeline created (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for ops in self.struct_ops.values():
            try:
                ops.detach()  # a registered struct_ops map outlives its fds: unregister first
            except KernelError as exc:
                import logging

                logging.getLogger(__name__).warning("struct_ops %r: %s", ops.name, exc)
        self._close_ksym_fds()
        for prog in self.programs.values():
            prog.close()
        if self.maps is not None:
            self.maps.close()
        if self.btf is not None:
            self.btf.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        done = ", ".join(self.results) or "nothing"
        mode = "dry run" if self.dry_run else "privileged"
        return f"<Pipeline {self._name()!r} {mode}: ran {done}>"

    def _name(self) -> str:
        if self.obj is not None:
            return self.obj.name
        if isinstance(self.source, (str, os.PathLike)):
            return Path(self.source).name
        return "<bytes>"

    def _repr_html_(self) -> str:
        from .display.loader import pipeline_html

        return pipeline_html(self)


class Ebpf:
    """Loaded maps and programs of one object; closes them all on ``close()``."""

    def __init__(self, pipeline: Pipeline):
        self._pipeline = pipeline
        self.obj = pipeline.obj
        self.dry_run = pipeline.dry_run
        # typed (HashMap, Array, ...): keys and values through the object's BTF as loaded
        btf = pipeline.btf.btf if pipeline.btf is not None else pipeline.obj.btf if pipeline.obj else None
        live = pipeline.maps.maps if pipeline.maps is not None else {}
        from .maps import typed

        self.struct_ops: Mapping[str, StructOps] = dict(pipeline.struct_ops)
        owner = pipeline.obj.name if pipeline.obj is not None else "object"
        self.maps: Mapping[str, TypedMap] = NameTable(
            ((name, typed(m, btf, struct_ops=self.struct_ops[name]) if name in self.struct_ops else typed(m, btf))
             for name, m in live.items()), what="map", owner=owner)
        self.programs: Mapping[str, TypedProgram] = NameTable(
            pipeline.programs, what="program", owner=owner, reasons=pipeline.program_errors)
        self.btf = pipeline.btf

    def attach(self) -> dict[str, Any]:
        """Attach what the object says how to, as a libbpf skeleton's ``attach()``: every program
        whose section names its target, and every struct_ops map (registered).

        Name -> attachment (programs and struct_ops maps share the namespace
        of the object's symbols).  On a refusal what this call attached is
        undone and the error raised.
        """
        from .programs import auto_attach

        out = auto_attach(self.programs)
        try:
            for name, ops in self.struct_ops.items():
                out[name] = ops.attach()
        except BaseException:
            for made in out.values():
                made.detach()
            raise
        return out

    def close(self) -> None:
        self._pipeline.close()

    def __enter__(self) -> Ebpf:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self.obj.name if self.obj else "?"
        mode = " dry run" if self.dry_run else ""
        return f"<Ebpf {name!r}{mode} programs={len(self.programs)} maps={len(self.maps)}>"

    def _repr_html_(self) -> str:
        from .display.loader import ebpf_html

        return ebpf_html(self)
