"""Map kinds whose protocol is not a dict's, one module per family (as aya has them); re-exported here.

* :class:`LpmTrie` — keys are (prefix length, address bytes); a lookup
  finds the longest matching prefix, so ``m.match(address)`` is the useful
  query.  Keys also accept ``ipaddress`` networks and addresses.
* :class:`Queue`, :class:`Stack` — no keys: ``push``/``pop``/``peek``.
* :class:`BloomFilter` — no keys, no reads: ``push`` and ``contains``
  (false positives possible, false negatives not).
* :class:`ProgArray`, :class:`ArrayOfMaps`, :class:`HashOfMaps` — written
  with fds (a :class:`~bpfnb.kernel.programs.Program`/map, or an fd
  number), read back as kernel *ids*, as the kernel hands them out.
* :class:`StackTraceMap` — ``u32`` stack id → instruction pointers.
* :class:`PerfEventArray`, :class:`RingBuf` — event channels: the map holds
  no readable entries; ``reader()`` / ``collect()`` open the stream
  (:mod:`bpfnb.events`).
"""

from __future__ import annotations

from .bloom_filter import BloomFilter
from .channels import PerfEventArray, RingBuf
from .lpm_trie import LpmTrie
from .of_maps import ArrayOfMaps, HashOfMaps
from .prog_array import ProgArray
from .queue import Queue, Stack
from .stack_trace import StackTraceMap

__all__ = ["ArrayOfMaps", "BloomFilter", "HashOfMaps", "LpmTrie", "PerfEventArray", "ProgArray", "Queue",
           "RingBuf", "Stack", "StackTraceMap"]
