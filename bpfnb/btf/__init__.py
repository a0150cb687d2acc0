"""BTF: parse, look up, render as C, sanitize, CO-RE (pure: bytes in, model out)."""
