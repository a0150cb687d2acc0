"""Log2 histograms: filled by a real program from packets of known lengths, read back three ways."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers import fixture_path

from bpfnb.errors import MapError
from bpfnb.maps.histogram import Log2Histogram, log2_slot

LENGTHS = [14, 60, 64, 64, 100, 128, 700, 1500, 1500, 1500, 3000]  # XDP test runs cap data at a page


def test_slots_are_floor_log2_with_zero_and_one_together() -> None:
    assert [log2_slot(v) for v in (0, 1, 2, 3, 4, 1023, 1024)] == [0, 0, 1, 1, 2, 9, 10]


def test_text_is_the_tools_layout() -> None:
    h = Log2Histogram.from_counts({0: 1, 2: 4, 3: 2}, unit="usecs")
    lines = str(h).splitlines()
    assert lines[0] == f"{'':5}{'usecs':<19} : count    distribution"
    assert lines[1] == f"{0:>10} -> {1:<10} : {1:<8} |{'*' * 10:<40}|"
    assert lines[2] == f"{2:>10} -> {3:<10} : {0:<8} |{'':<40}|"
    assert lines[3] == f"{4:>10} -> {7:<10} : {4:<8} |{'*' * 40}|"
    assert lines[4] == f"{8:>10} -> {15:<10} : {2:<8} |{'*' * 20:<40}|"
    wide = str(Log2Histogram.from_counts({40: 1}))
    assert f"{1 << 40:>20} -> {(1 << 41) - 1:<20} : 1        |{'*' * 20}|" in wide


def test_bad_slots_are_refused() -> None:
    with pytest.raises(MapError, match="slot 64 outside"):
        Log2Histogram.from_counts({64: 1})


@pytest.fixture(scope="module")
def counted():
    from bpfnb import EbpfLoader

    ebpf = EbpfLoader().load_file(fixture_path("packet_sizes"))
    program = ebpf.programs["count_lengths"]
    for length in LENGTHS:
        assert program.test_run(bytes(length)).retval == 2  # XDP_PASS
    yield ebpf
    ebpf.close()


def _expected() -> dict[int, int]:
    return dict(Counter(log2_slot(n) for n in LENGTHS))


@pytest.mark.kernel
@pytest.mark.parametrize("name,value", [("len_hist", None), ("len_hist_percpu", None),
                                        ("len_hist_hash", "value.count")])
def test_histogram_of_a_real_map(counted, name, value) -> None:
    h = Log2Histogram.from_map(counted.maps[name], value=value, unit="bytes")
    assert h == Log2Histogram.from_counts(_expected(), unit="bytes", title=name)
    assert h.total == len(LENGTHS)
    df = h.to_dataframe()
    assert df.loc["1024 -> 2047", "count"] == 3 and df.index.name == "bytes"
    html = h._repr_html_()
    assert "1024 -&gt; 2047" in html and f"{len(LENGTHS)} values" in html


@pytest.mark.kernel
def test_histogram_needs_integer_counts(counted) -> None:
    with pytest.raises(MapError, match="pass value="):
        Log2Histogram.from_map(counted.maps["len_hist_hash"])


@pytest.mark.kernel
def test_plot_draws_one_bar_per_slot(counted) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    h = Log2Histogram.from_map(counted.maps["len_hist"], unit="bytes")
    ax = h.plot()
    heights = [int(p.get_height()) for p in ax.patches]
    assert heights == list(h.counts)


@pytest.mark.kernel
def test_record_stacks_timed_samples_and_round_trips_parquet(counted, tmp_path) -> None:
    import pandas as pd

    from bpfnb.maps import record

    program = counted.maps["len_hist"], counted.programs["count_lengths"]
    m, prog = program
    before = Log2Histogram.from_map(m).total
    df = record(m, interval=0.01, samples=3, sleep=lambda s: prog.test_run(bytes(64)))
    assert list(df.columns[:2]) == ["time", "index"] and len(df) == 3 * m.max_entries
    assert str(df["time"].dt.tz) == "UTC" and df["time"].is_monotonic_increasing
    totals = df.groupby("time")["value"].sum().tolist()
    assert totals == [before, before + 1, before + 2]  # one packet between readings
    path = tmp_path / "len_hist.parquet"
    df.to_parquet(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    with pytest.raises(ValueError, match="must end"):
        record(m)


@pytest.mark.kernel
def test_map_view_keeps_a_history_and_plots_it(counted) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    from bpfnb.widgets import MapView

    matplotlib.use("Agg")
    view = MapView(counted.maps["len_hist"], history=2, autostart=False)
    for _ in range(3):
        view.refresh()
    history = view.history()
    assert history["time"].nunique() == 2 and len(history) == 2 * counted.maps["len_hist"].max_entries
    ax = view.plot_history()
    assert len(ax.get_lines()) == counted.maps["len_hist"].max_entries  # one line per slot
    with pytest.raises(ValueError, match="keeps no history"):
        MapView(counted.maps["len_hist"], autostart=False).history()
