"""The Loader widget as a user drives it: options that change, bad input, refusals, attach targets, tabs."""

from __future__ import annotations

import subprocess

import pytest

from bpfnb import examples
from bpfnb.loader import STAGES

widgets = pytest.importorskip("ipywidgets")

from bpfnb.widgets import Loader, MapView  # noqa: E402


def _dry(source=None, **kw) -> Loader:
    return Loader(source, dry_run=True, **kw)


def test_changing_an_option_after_a_stage_resets_and_says_so():
    w = _dry(examples.path("packet_counter"))
    w.buttons["maps"].click()
    assert w.pipeline is not None and w.tabs.selected_index == STAGES.index("maps")
    w.object.value = str(examples.path("syscall_counter"))
    assert w.pipeline is None and all(o.value == "" for o in w.outputs.values())
    assert "object changed" in w.notice.value and "reset" in w.notice.value
    w.globals.value = "min_len = 1"  # no pipeline yet: nothing to reset, no notice
    assert "object changed" in w.notice.value
    w.buttons["parse"].click()
    assert "syscall_counter" in w.outputs["parse"].value and w.notice.value == ""
    w.close()


@pytest.mark.parametrize("text", ["proto_stats = -1", "proto_stats = 4294967296", "proto_stats = 'x'",
                                  "proto_stats = True"])
def test_bad_max_entries_are_refused_in_the_form(text):
    w = _dry(examples.path("packet_counter"))
    w.max_entries.value = text
    w.run_all_button.click()  # must not raise out of the callback
    assert "is not a map size" in w.error.value and w.pipeline is None
    w.close()


def test_an_unexpected_exception_is_shown_not_lost(monkeypatch):
    w = _dry(examples.path("packet_counter"))
    w.buttons["parse"].click()

    def boom():
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(w.pipeline, "next", boom)
    w.buttons["btf"].click()
    assert "RuntimeError" in w.error.value and "unexpected" in w.error.value
    assert "something nobody expected" in w.error.value
    w.close()


def test_stage_results_are_tabs_with_the_current_one_selected():
    w = _dry(examples.path("packet_counter"))
    assert tuple(w.tabs.titles) == (*STAGES, "attach")
    w.buttons["relocate"].click()
    assert w.tabs.selected_index == STAGES.index("relocate")
    assert list(w.tabs.children[: len(STAGES)]) == list(w.outputs.values())
    w.attach_button.click()
    assert w.tabs.selected_index == len(STAGES)
    w.reset()
    assert w.tabs.selected_index == 0
    w.close()


@pytest.mark.kernel
def test_refused_programs_are_shown_with_their_errors_where_the_eye_lands():
    w = Loader(examples.path("rejected"))
    w.run_all()
    refused = w.pipeline.program_errors
    assert "no_bounds_check" in refused  # the verifier's refusal, whatever else this kernel refuses (fentry)
    assert f"{len(refused)} of {len(refused) + len(w.pipeline.programs)} programs were not loaded" in w.error.value
    for name, exc in refused.items():
        assert name in w.error.value and type(exc).__name__ in w.error.value
    assert "<table" in w.error.value  # the verifier log table, not collapsed away
    assert w.buttons["load"].button_style == "warning"
    w.close()


@pytest.fixture
def veth_interface(unique_name):
    """One end of a veth pair in this netns (XDP and tc attach to it), removed even on failure."""
    name = f"bn{unique_name[-8:]}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


@pytest.mark.kernel
def test_attach_puts_xdp_and_tc_on_the_interface_given_and_detach_removes_them(veth_interface):
    from helpers import kernel_feature

    w = Loader(examples.path("packet_counter"))
    w.attach()
    assert w.attach_output.value.count("needs a target: an interface") == 2 and not w.attachments
    w.reset()
    w.interface.value = veth_interface
    with kernel_feature("tcx"):
        w.attach()
        if "tc_count" in w.attach_errors:  # a kernel without tcx: the tc program's refusal is its own row
            raise w.attach_errors["tc_count"]
    assert set(w.attachments) == {"xdp_count", "tc_count"}
    assert w.attach_button.description == "attached 2" and not w.detach_button.disabled
    shown = subprocess.run(["ip", "-d", "link", "show", veth_interface], capture_output=True, text=True).stdout
    assert "xdp" in shown
    w.detach_button.click()
    assert w.attachments == {} and w.detach_button.disabled
    shown = subprocess.run(["ip", "-d", "link", "show", veth_interface], capture_output=True, text=True).stdout
    assert "prog/xdp" not in shown
    w.close()


@pytest.mark.kernel
def test_map_view_shows_keys_as_index_counts_rows_and_starts_when_displayed():
    from bpfnb import EbpfLoader

    with EbpfLoader().load_file(examples.path("packet_counter")) as ebpf:
        view = MapView(ebpf.maps["verdicts"], interval=0.05, rows=1)
        df = view.frame()
        assert df.index.names == ["index"] and len(df) == 1
        view._ipython_display_()
        try:
            assert view.running
        finally:
            view.stop()
        assert "1 of 2 rows" in view.status.value and "stopped" in view.status.value
        still = MapView(ebpf.maps["verdicts"], autostart=False)
        still._ipython_display_()
        assert not still.running
