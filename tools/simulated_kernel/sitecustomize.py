"""With BPFNB_SIMULATE_KERNEL=1 (and this folder on PYTHONPATH), ``Btf.from_sys_fs()``
returns another kernel build's BTF (see simulated_btf.py): for checking that
notebook outputs do not depend on the running kernel's type ids and offsets.

    PYTHONPATH=tools/simulated_kernel BPFNB_SIMULATE_KERNEL=1 \\
        .venv/bin/pytest notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg
"""

import os

if os.environ.get("BPFNB_SIMULATE_KERNEL") == "1":
    import functools

    def _install():
        from bpfnb.btf import btf as btf_module
        from simulated_btf import simulated

        real = btf_module.Btf.from_sys_fs.__func__

        @functools.cache
        def _vmlinux():
            with open("/sys/kernel/btf/vmlinux", "rb") as f:
                data = f.read()
            return btf_module.Btf.from_bytes(simulated(data), source="/sys/kernel/btf/vmlinux (simulated build)")

        def from_sys_fs(cls, module=None, *, cache=True):
            if module is None or module == "vmlinux":
                return _vmlinux()
            return real(cls, module, cache=cache)

        btf_module.Btf.from_sys_fs = classmethod(from_sys_fs)

    try:
        _install()
    except ImportError:
        pass
