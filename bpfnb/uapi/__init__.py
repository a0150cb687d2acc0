"""Kernel UAPI tables (generated from BTF) and small helpers around them."""

from .enums import AttachType, Cmd, CoreReloKind, FuncId, LinkType, MapType, PerfType, ProgType, StatsType

__all__ = ["AttachType", "Cmd", "CoreReloKind", "FuncId", "LinkType", "MapType", "PerfType", "ProgType", "StatsType"]
