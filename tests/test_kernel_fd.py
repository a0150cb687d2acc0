"""Fd ownership: close once, context manager, finalizer, dup, use after close.

Uses pipes, so it runs without privileges; the kernel-object variant of
the finalizer and leak checks lives in test_kernel_syscall.py.
"""

from __future__ import annotations

import gc
import os

import pytest

from bpfnb.kernel.fd import Fd, fd_number


def _is_open(number: int) -> bool:
    return os.path.exists(f"/proc/self/fd/{number}")


def _pipe() -> tuple[Fd, Fd]:
    r, w = os.pipe()
    return Fd(r, "pipe"), Fd(w, "pipe")


def test_close_is_idempotent_and_marks_closed() -> None:
    r, w = _pipe()
    number = r.fileno()
    assert not r.closed and _is_open(number)
    r.close()
    assert r.closed and not _is_open(number)
    r.close()  # second close: no error, and no stray close of a reused number
    w.close()


def test_use_after_close_raises() -> None:
    r, w = _pipe()
    w.close()
    with pytest.raises(ValueError, match="closed pipe fd"):
        w.fileno()
    with pytest.raises(ValueError):
        int(w)
    with pytest.raises(ValueError):
        fd_number(w)
    r.close()


def test_context_manager_closes() -> None:
    r, w = _pipe()
    with r as same:
        assert same is r
        number = r.fileno()
    assert r.closed and not _is_open(number)
    w.close()


def test_finalizer_closes_dropped_fd() -> None:
    r, w = _pipe()
    number = r.fileno()
    del r
    gc.collect()
    assert not _is_open(number)
    w.close()


def test_second_close_does_not_touch_reused_number() -> None:
    """After close, the number may be reused by someone else: Fd must leave it alone."""
    r, w = _pipe()
    number = r.fileno()
    r.close()
    r2, w2 = _pipe()  # the lowest free numbers: very likely ``number`` again
    try:
        r.close()
        del r
        gc.collect()
        assert _is_open(r2.fileno()) and _is_open(w2.fileno())
        if r2.fileno() == number:
            os.write(w2.fileno(), b"x")
            assert os.read(r2.fileno(), 1) == b"x"
    finally:
        for f in (w, r2, w2):
            f.close()


def test_dup_is_independent() -> None:
    r, w = _pipe()
    d = w.dup()
    assert d.fileno() != w.fileno() and d.fileno() >= 3 and d.kind == "pipe"
    w.close()
    os.write(d.fileno(), b"ok")  # still usable after the original is closed
    assert os.read(r.fileno(), 2) == b"ok"
    assert os.get_inheritable(d.fileno()) is False  # CLOEXEC like bpf()'s own fds
    d.close()
    r.close()


def test_detach_gives_up_ownership() -> None:
    r, w = _pipe()
    number = r.detach()
    assert r.closed
    del r
    gc.collect()
    assert _is_open(number)
    os.close(number)
    w.close()


def test_repr_and_int() -> None:
    r, w = _pipe()
    assert repr(r) == f"<Fd pipe {r.fileno()}>"
    assert int(r) == r.fileno()
    r.close()
    assert repr(r) == "<Fd pipe closed>"
    w.close()


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_rejects_non_fds(bad) -> None:
    with pytest.raises((ValueError, TypeError)):
        Fd(bad)
    with pytest.raises(TypeError):
        fd_number(bad)


def test_equality_is_identity() -> None:
    r, w = _pipe()
    assert r == r and r != w and len({r, w, r}) == 2
    r.close()
    w.close()
