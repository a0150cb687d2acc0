"""``BPF_MAP_TYPE_LPM_TRIE``: longest-prefix match, keys as ``ipaddress`` networks or (prefix length, bytes)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from ..btf.codec import RawCodec
from ..errors import ValueEncodingError
from ..uapi import MapType
from .typed import TypedMap

if TYPE_CHECKING:
    from ..kernel.map import Map

__all__ = ["LpmTrie"]


class LpmTrie(TypedMap):
    """``BPF_MAP_TYPE_LPM_TRIE``: longest-prefix-match on ``{u32 prefixlen; u8 data[]}`` keys.

    Keys may be given as ``ipaddress`` networks (``"10.0.0.0/8"`` strings
    too), ``(prefixlen, data_bytes)`` tuples, or whatever the key's BTF type
    takes.  Without BTF, keys decode as ``(prefixlen, bytes)``.
    """

    map_types = (MapType.LPM_TRIE,)

    @classmethod
    def _default_codecs(cls, raw: Map) -> dict[str, Any]:
        from .codecs import lpm_key_codec

        return {"default_key": lpm_key_codec(raw.key_size)} if raw.key_size > 4 else {}

    @property
    def data_size(self) -> int:
        return self.key_size - 4

    def encode_key(self, key: Any) -> bytes:
        if isinstance(key, str):
            key = ipaddress.ip_network(key, strict=False)
        if isinstance(key, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            key = ipaddress.ip_network(key)
        if isinstance(key, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            key = (key.prefixlen, key.network_address.packed)
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], (bytes, bytearray)):
            prefixlen, data = int(key[0]), bytes(key[1])
            if len(data) > self.data_size:
                raise ValueEncodingError(f"{len(data)} address bytes for a {self.data_size}-byte trie key",
                                         path=self.name)
            if not 0 <= prefixlen <= 8 * self.data_size:
                raise ValueEncodingError(f"prefix length {prefixlen} outside 0..{8 * self.data_size}", path=self.name)
            return prefixlen.to_bytes(4, "little") + data.ljust(self.data_size, b"\0")
        return super().encode_key(key)

    def decode_key(self, data: bytes) -> Any:
        if isinstance(self.codecs.key, RawCodec) or self.codecs.source == "map type":
            raw = bytes(data)
            return int.from_bytes(raw[:4], "little"), raw[4:]
        return super().decode_key(data)

    def match(self, address: Any, default: Any = None) -> Any:
        """The value of the longest prefix containing ``address`` (a full-length lookup)."""
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            address = address.packed
        return self.get((8 * self.data_size, bytes(address)), default)
