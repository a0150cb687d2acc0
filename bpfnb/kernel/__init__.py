"""The only code that makes syscalls: bpf() via cffi, probes, live objects."""
