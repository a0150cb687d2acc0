"""``Instructions``: an immutable sequence of instructions that knows its slots.

The kernel, llvm, relocation records and BTF line info all count 8-byte
*slots*; Python code wants to iterate *instructions* (ld_imm64 being one
instruction of two slots).  This container keeps both views consistent:
``insns[i]`` is the i-th instruction, ``insns.slot_of(i)`` its slot and
``insns.at_slot(s)`` the instruction starting at slot ``s``.

Per-slot notes travel with the code so every view shows them:
``annotations`` (e.g. "map counters" added by the relocation stage) and
``source_lines`` (C source from BTF line info, shown above the instruction
whose slot starts that line).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, compress, repeat
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

from ..errors import InstructionError
from .instruction import Instruction, as_array, decode
from .opcodes import LD_IMM64

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .disasm import Names

__all__ = ["Instructions"]

#: Slots an instruction takes, by opcode byte: ld_imm64 two, every other one.
_SLOTS = tuple(2 if code == LD_IMM64 else 1 for code in range(256))
_OPCODE = attrgetter("opcode")


class Instructions(Sequence[Instruction]):
    """An immutable program (or function) body with slot bookkeeping.

    ``annotations`` maps a slot to notes about the instruction there;
    ``source_lines`` maps a slot to the source line that starts there.
    Keys must be slots where an instruction starts: a note pointing into
    the middle of an ld_imm64 is a bug upstream, reported at once.
    """

    __slots__ = ("_insns", "_starts", "_by_slot", "_annotations", "_source_lines", "name", "kernel_dump")

    #: Rows shown by ``_repr_html_`` before "showing N of M".
    html_max_rows: int = 200

    def __init__(
        self,
        insns: Iterable[Instruction] = (),
        *,
        annotations: Mapping[int, Iterable[str]] | None = None,
        source_lines: Mapping[int, str] | None = None,
        name: str | None = None,
        kernel_dump: bool = False,
    ) -> None:
        self._insns: tuple[Instruction, ...] = tuple(insns)
        #: The kernel's view (xlated code): a map ld_imm64 holds a map *id*, printed ``map[id:N]`` as bpftool does.
        self.kernel_dump = kernel_dump
        if not all(map(isinstance, self._insns, repeat(Instruction))):
            bad = next(i for i in self._insns if not isinstance(i, Instruction))
            raise TypeError(f"Instructions holds Instruction objects, not {type(bad).__name__}")
        # each instruction's slot, and the total as a sentinel; iterated in C (a program has thousands)
        self._starts: list[int] = list(accumulate(map(_SLOTS.__getitem__, map(_OPCODE, self._insns)), initial=0))
        self._by_slot: dict[int, int] | None = None
        self.name = name
        notes = {s: tuple(v) for s, v in (annotations or {}).items() if v}
        lines = dict(source_lines or {})
        for what, mapping in (("annotation", notes), ("source line", lines)):
            for s in mapping:
                self.index_at_slot(s, what=what)
        self._annotations = MappingProxyType(dict(sorted(notes.items())))
        self._source_lines = MappingProxyType(dict(sorted(lines.items())))

    @classmethod
    def _slice_of(cls, parent: Instructions, start: int, stop: int) -> Instructions:
        """``parent[start:stop]`` without re-checking what the parent checked (its slots and notes)."""
        lo, hi = parent._starts[start], parent._starts[max(start, stop)]
        self = object.__new__(cls)
        self._insns = parent._insns[start:stop]
        self.kernel_dump = parent.kernel_dump
        self._starts = [s - lo for s in parent._starts[start:max(start, stop) + 1]] if lo else \
            parent._starts[start:max(start, stop) + 1]
        self._by_slot = None
        self.name = parent.name
        self._annotations = MappingProxyType({s - lo: v for s, v in parent._annotations.items() if lo <= s < hi})
        self._source_lines = MappingProxyType({s - lo: v for s, v in parent._source_lines.items() if lo <= s < hi})
        return self

    @classmethod
    def decode(
        cls, data: bytes | bytearray | memoryview, *, where: str | None = None, name: str | None = None
    ) -> Instructions:
        """Decode bytes; errors name ``where`` (default: ``name``) and the slot."""
        return cls(decode(data, where=where if where is not None else name), name=name)

    # --- Sequence -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._insns)

    @overload
    def __getitem__(self, index: int) -> Instruction: ...

    @overload
    def __getitem__(self, index: slice) -> Instructions: ...

    def __getitem__(self, index: int | slice) -> Instruction | Instructions:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._insns))
            if step != 1:
                raise ValueError("Instructions slices must be contiguous (step 1)")
            return Instructions._slice_of(self, start, stop)
        return self._insns[index]

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self._insns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instructions):
            return NotImplemented
        return (
            self._insns == other._insns
            and self._annotations == other._annotations
            and self._source_lines == other._source_lines
        )

    def __hash__(self) -> int:
        return hash(self._insns)

    def __add__(self, other: Instructions) -> Instructions:
        """Concatenate, shifting the right-hand side's slots (appending subprograms)."""
        if not isinstance(other, Instructions):
            return NotImplemented
        shift = self.len_slots
        notes = dict(self._annotations)
        for s, v in other._annotations.items():
            notes[s + shift] = v
        lines = dict(self._source_lines)
        lines.update({s + shift: v for s, v in other._source_lines.items()})
        return Instructions(self._insns + other._insns, annotations=notes, source_lines=lines, name=self.name,
                            kernel_dump=self.kernel_dump)

    # --- slots --------------------------------------------------------------

    @property
    def len_slots(self) -> int:
        """Total 8-byte slots (what the kernel calls ``insn_cnt``)."""
        return self._starts[-1]

    def slot_of(self, index: int) -> int:
        """Slot at which instruction ``index`` starts."""
        if index < 0:
            index += len(self._insns)
        if not 0 <= index < len(self._insns):
            raise IndexError(f"instruction index {index} out of range (0..{len(self._insns) - 1})")
        return self._starts[index]

    def index_at_slot(self, slot: int, *, what: str = "slot") -> int:
        """Index of the instruction starting at ``slot``.

        Raises :class:`InstructionError` when ``slot`` is past the end or is
        the second half of an ld_imm64.
        """
        if self._by_slot is None:
            self._by_slot = {s: i for i, s in enumerate(self._starts[:-1])}
        index = self._by_slot.get(slot)
        if index is not None:
            return index
        where = self.name
        if not 0 <= slot < self.len_slots:
            raise InstructionError(f"{what} at slot {slot} is outside 0..{self.len_slots - 1}", index=slot, where=where)
        owner = bisect_right(self._starts, slot) - 1
        raise InstructionError(
            f"{what} at slot {slot} points into the second half of the ld_imm64 at slot {self._starts[owner]}",
            index=slot,
            where=where,
        )

    def at_slot(self, slot: int) -> Instruction:
        """The instruction starting at ``slot``."""
        return self._insns[self.index_at_slot(slot)]

    def slots(self) -> Iterator[tuple[int, Instruction]]:
        """``(slot, instruction)`` pairs in order."""
        return zip(self._starts, self._insns)

    def slots_of(self, opcodes: Collection[int]) -> Iterator[tuple[int, Instruction]]:
        """``(slot, instruction)`` pairs of the instructions whose opcode byte is in ``opcodes``.

        The walkers that look only at calls and ld_imm64 (call graph, call
        relocation) skip the rest of a program in C instead of testing each
        instruction in Python.
        """
        wanted = frozenset(opcodes)
        return compress(zip(self._starts, self._insns), map(wanted.__contains__, map(_OPCODE, self._insns)))

    def replace_at_slot(self, slot: int, insn: Instruction) -> Instructions:
        """A copy with the instruction at ``slot`` replaced (same slot count).

        Relocation patches immediates in place; changing an instruction's
        size would silently move every later slot, so it is refused.
        """
        index = self.index_at_slot(slot)
        old = self._insns[index]
        if old.slots != insn.slots:
            raise InstructionError(
                f"cannot replace a {old.slots}-slot instruction with a {insn.slots}-slot one",
                index=slot,
                where=self.name,
            )
        insns = self._insns[:index] + (insn,) + self._insns[index + 1 :]
        return Instructions(insns, annotations=self._annotations, source_lines=self._source_lines, name=self.name,
                            kernel_dump=self.kernel_dump)

    # --- notes --------------------------------------------------------------

    @property
    def annotations(self) -> Mapping[int, tuple[str, ...]]:
        """Notes per slot, read-only (``slot -> ("map counters", ...)``)."""
        return self._annotations

    @property
    def source_lines(self) -> Mapping[int, str]:
        """Source text per slot where a line starts, read-only."""
        return self._source_lines

    def annotate(self, slot: int, *notes: str) -> Instructions:
        """A copy with ``notes`` appended at ``slot``."""
        return self.with_annotations({slot: notes})

    def with_annotations(self, annotations: Mapping[int, Iterable[str]]) -> Instructions:
        """A copy with more notes (appended after existing ones per slot)."""
        merged = {s: list(v) for s, v in self._annotations.items()}
        for s, v in annotations.items():
            merged.setdefault(s, []).extend(v)
        return Instructions(self._insns, annotations=merged, source_lines=self._source_lines, name=self.name,
                            kernel_dump=self.kernel_dump)

    def with_source_lines(self, source_lines: Mapping[int, str]) -> Instructions:
        """A copy with these source lines (replacing any at the same slots)."""
        lines = dict(self._source_lines)
        lines.update(source_lines)
        return Instructions(self._insns, annotations=self._annotations, source_lines=lines, name=self.name,
                            kernel_dump=self.kernel_dump)

    # --- conversions --------------------------------------------------------

    def to_bytes(self) -> bytes:
        return b"".join(insn.encode() for insn in self._insns)

    def as_array(self) -> np.ndarray:
        """numpy structured view of the encoded slots (see ``asm.as_array``)."""
        return as_array(self.to_bytes())

    def text(self, *, names: Names | None = None) -> str:
        """The disassembly listing with notes as ``;`` comments."""
        from .disasm import disassemble

        return disassemble(self, names=names)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        notes = f", {len(self._annotations)} annotated" if self._annotations else ""
        return f"<Instructions{label} {len(self._insns)} insns, {self.len_slots} slots{notes}>"

    def _repr_html_(self) -> str:
        from ..display.asm import instructions_html

        return instructions_html(self, max_rows=self.html_max_rows)

    def to_html(self, *, max_rows: int | None = None, names: Names | None = None) -> str:
        """HTML table (slot, bytes, text, annotation); ``max_rows=None`` uses ``html_max_rows``."""
        from ..display.asm import instructions_html

        return instructions_html(self, max_rows=self.html_max_rows if max_rows is None else max_rows, names=names)

    def to_dataframe(self, *, names: Names | None = None) -> pd.DataFrame:
        """One row per instruction: slot, opcode, dst, src, off, imm, bytes, text, annotation."""
        from ..display.asm import instructions_dataframe

        return instructions_dataframe(self, names=names)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "insns": self._insns,
            "annotations": dict(self._annotations),
            "source_lines": dict(self._source_lines),
            "name": self.name,
            "kernel_dump": self.kernel_dump,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["insns"], annotations=state["annotations"], source_lines=state["source_lines"], name=state["name"],
            kernel_dump=state.get("kernel_dump", False),
        )
