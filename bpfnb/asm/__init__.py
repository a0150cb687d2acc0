"""eBPF instructions: decode, encode, disassemble (pure, no dependencies)."""
