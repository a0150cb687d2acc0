"""The widget loader, driven from pytest by clicking its buttons."""

from __future__ import annotations

import pytest

from bpfnb import examples
from bpfnb.loader import STAGES

widgets = pytest.importorskip("ipywidgets")

from bpfnb.widgets import Loader  # noqa: E402


def _dry(source=None, **kw) -> Loader:
    """A loader that never makes syscalls, whatever this process may do."""
    return Loader(source, dry_run=True, **kw)


def test_buttons_step_through_the_stages_in_order():
    w = _dry(examples.path("packet_counter"))
    assert not w.privileged and "dry run" in w.mode.value
    assert [b.description for b in w.buttons.values()] == list(STAGES)
    w.buttons["parse"].click()
    assert "Object packet_counter.bpf.o" in w.outputs["parse"].value
    assert w.buttons["parse"].disabled and w.buttons["parse"].button_style == "success"
    assert w.outputs["maps"].value == ""
    # clicking a later stage runs the ones before it
    w.buttons["relocate"].click()
    assert all(w.outputs[s].value for s in ("btf", "maps", "relocate"))
    assert "placeholder" in w.outputs["maps"].value
    assert w.outputs["load"].value == ""
    w.run_all_button.click()
    assert "not loaded" in w.outputs["load"].value
    assert w.run_all_button.disabled
    assert "dry run" in w.status.value
    w.close()


def test_options_reach_the_loader():
    w = _dry(examples.path("packet_counter"))
    w.globals.value = "min_len = 64\n# a comment\ndrop_proto = 17"
    w.max_entries.value = "proto_stats = 512"
    w.log_level.value = 2
    p = w._make_pipeline()
    assert p.options.globals == {"min_len": 64, "drop_proto": 17}
    assert p.options.max_entries == {"proto_stats": 512}
    assert p.options.log_level == 2
    w.close()


def test_bad_options_show_a_typed_error_not_a_traceback():
    w = _dry(examples.path("packet_counter"))
    w.globals.value = "min_len 64"
    w.run_all_button.click()
    assert "expected name=value" in w.error.value and "Traceback" not in w.error.value
    w.globals.value = ""
    w.target_btf.value = "/nonexistent/btf"
    w.run_all_button.click()
    assert "bpfnb-err" in w.error.value
    w.close()


def test_reset_starts_again():
    w = _dry(examples.path("syscall_counter"))
    w.run_all()
    assert w.pipeline is not None and w.outputs["load"].value
    w.reset()
    assert w.pipeline is None and not any(o.value for o in w.outputs.values())
    assert not w.buttons["parse"].disabled
    w.close()


def test_object_choices_include_examples_and_a_directory(tmp_path):
    (tmp_path / "mine.bpf.o").write_bytes(examples.path("packet_counter").read_bytes())
    w = Loader(directory=tmp_path)
    labels = [label for label, _ in w.object.options]
    assert "example: packet_counter" in labels and "mine.bpf.o" in labels
    w.close()


@pytest.mark.kernel
def test_privileged_run_loads_and_reset_releases():
    import os

    before = len(os.listdir("/proc/self/fd"))
    w = Loader(examples.path("packet_counter"))
    assert w.privileged
    w.run_all()
    assert "2 of 2 programs loaded" in w.outputs["load"].value
    assert w.error.value == ""
    w.reset()
    assert len(os.listdir("/proc/self/fd")) == before
    w.close()


@pytest.mark.kernel
def test_rejected_program_shows_the_verifier_log():
    from helpers import fixture_path

    w = Loader(fixture_path("reject"))
    w.run_all()
    # the load stage reports per-program outcomes; the rejected one shows its log table
    assert "unchecked_deref" in w.outputs["load"].value
    assert "bpfnb-err" in w.outputs["load"].value or "invalid mem access" in w.outputs["load"].value
    w.close()


def test_attach_in_a_dry_run_explains_why_not():
    w = _dry(examples.path("syscall_counter"))
    w.attach_button.click()
    assert "load" in w.pipeline.results  # attach runs the stages it needs first
    assert "attaching needs CAP_BPF" in w.attach_output.value
    w.close()


@pytest.mark.kernel
def test_attach_step_attaches_what_the_section_names_and_reset_detaches():
    import json
    import subprocess

    def links():
        out = subprocess.run(["bpftool", "link", "show", "-j"], capture_output=True, text=True, check=True).stdout
        return {link["id"] for link in json.loads(out or "[]")}

    before = links()
    w = Loader(examples.path("syscall_counter"))
    w.attach_button.click()
    assert "attached" in w.attach_output.value and "count_syscalls" in w.attach_output.value
    assert len(links() - before) == 1
    assert w.attach_button.disabled
    w.reset()
    assert links() - before == set()
    w.close()


@pytest.mark.kernel
def test_attach_step_says_which_programs_need_a_target():
    w = Loader(examples.path("packet_counter"))
    w.attach()
    assert "needs a target" in w.attach_output.value  # xdp and tc need an interface
    w.close()


@pytest.mark.kernel
def test_map_view_refreshes_and_stops():
    import struct
    import time

    from bpfnb import EbpfLoader
    from bpfnb.widgets import MapView

    frame = (bytes(12) + struct.pack("!H", 0x0800)
             + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 86, 0, 0, 64, 17, 0, bytes(4), bytes(4))).ljust(100, b"\0")
    with EbpfLoader().load_file(examples.path("packet_counter")) as ebpf:
        ebpf.programs["xdp_count"].test_run(frame)
        view = MapView(ebpf.maps["verdicts"], interval=0.05)
        view.refresh()
        assert "value" in view.table.value and view.refreshes == 1
        view.start()
        assert view.running and view.stop_button.disabled is False
        for _ in range(400):  # wait for the background refreshes, bounded; not a timing assertion
            if view.refreshes >= 3:
                break
            time.sleep(0.01)
        assert view.refreshes >= 3
        view.stop_button.click()
        assert not view.running and view.start_button.disabled is False
        assert "stopped" in view.status.value
