"""ELF object files -> Object: programs, functions, maps, data, relocations (pure)."""
