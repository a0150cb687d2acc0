"""Class 8 of issue 13: errors that used to mislead.

* an undefined extern function advised "pass ksyms=", which the loader never
  needs from the user: it now says the function is defined nowhere and is
  not a __ksym kernel symbol;
* EPERM pinning outside bpffs said "needs CAP_BPF" to root: it now names the
  filesystem and says pins need bpffs;
* a symlink inside the pin root was followed silently to another pin: it is
  refused, naming the link and its target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bpfnb import EbpfLoader
from bpfnb.errors import KernelError, UnknownSymbol, UnsafeName
from bpfnb.kernel.maps import pin_path

UNDEF_C = r"""
#include <linux/bpf.h>
#define SEC(x) __attribute__((section(x), used))
extern int not_defined_anywhere(int x);
SEC("socket") int prog(void *ctx) { return not_defined_anywhere(1); }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def undef_obj(tmp_path_factory):
    if shutil.which("clang-19") is None:
        pytest.skip("clang-19 missing")
    d = tmp_path_factory.mktemp("undef")
    (d / "undef.bpf.c").write_text(UNDEF_C)
    arch = f"/usr/include/{os.uname().machine}-linux-gnu"
    subprocess.run(["clang-19", "-g", "-O2", "-target", "bpf", f"-I{arch}", "-c", str(d / "undef.bpf.c"),
                    "-o", str(d / "undef.bpf.o")], check=True)
    return d / "undef.bpf.o"


def test_undefined_extern_function_does_not_advise_ksyms(undef_obj):
    with pytest.raises(UnknownSymbol) as info:
        EbpfLoader().dry_run().load_file(undef_obj)
    text = str(info.value)
    assert "not_defined_anywhere" in text and "defined nowhere" in text
    assert "ksyms=" not in text


@pytest.mark.kernel
def test_pin_outside_bpffs_names_the_filesystem(tmp_path):
    from bpfnb.kernel import syscall
    from bpfnb.uapi import MapType

    fd = syscall.map_create(MapType.ARRAY, 4, 8, 1)
    try:
        with pytest.raises(KernelError) as info:
            syscall.obj_pin(fd, tmp_path / "x")
    finally:
        fd.close()
    text = str(info.value)
    assert "bpffs" in text and str(tmp_path) in text
    assert "CAP_BPF" not in text


@pytest.mark.kernel
def test_symlink_in_pin_root_is_refused(pin_root):
    target = os.path.join(pin_root, "elsewhere")
    os.mkdir(target)
    os.symlink(os.path.join(target, "real"), os.path.join(pin_root, "counts"))
    with pytest.raises(UnsafeName, match="symlink") as info:
        pin_path(pin_root, "counts")
    assert "real" in str(info.value)
    assert pin_path(pin_root, "other") == os.path.join(pin_root, "other")
