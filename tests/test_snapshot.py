"""Snapshots of the kernel's BPF state as Parquet, queried back with DuckDB."""

from __future__ import annotations

import pytest

from helpers import fixture_path

duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def counted():
    from bpfnb import EbpfLoader

    with EbpfLoader().load_file(fixture_path("packet_sizes")) as ebpf:
        yield ebpf


@pytest.mark.kernel
def test_snapshot_round_trips_through_duckdb_with_typed_columns(counted, tmp_path) -> None:
    from bpfnb.snapshot import snapshot

    prog = counted.programs["count_lengths"]
    hist = counted.maps["len_hist"]
    prog.test_run(bytes(100))
    first = snapshot(tmp_path / "t1", contents=[hist.id], host="host-a")
    prog.test_run(bytes(100))
    prog.test_run(bytes(1500))
    snapshot(tmp_path / "t2", contents=[hist.id], host="host-a")

    programs = f"'{tmp_path}/*/programs.parquet'"
    [(tag,)] = duckdb.sql(f"select distinct tag from {programs} where id = {prog.info().id}").fetchall()
    assert tag == prog.info().tag
    kinds = dict(duckdb.sql(f"describe select * from {programs}").fetchall()[i][:2] for i in range(3))
    assert kinds == {"host": "VARCHAR", "time": "TIMESTAMP WITH TIME ZONE", "id": "BIGINT"}
    maps = f"'{tmp_path}/*/maps.parquet'"
    [(status,)] = duckdb.sql(f"select distinct contents from {maps} where id = {hist.id}").fetchall()
    assert status == f"map_contents/{hist.id}.parquet"
    # which slots grew between the two snapshots: typed columns straight from the map's BTF
    grew = duckdb.sql(f"""
        select "index", max(value) - min(value) as added
        from '{tmp_path}/*/map_contents/{hist.id}.parquet' group by "index" having added > 0 order by "index"
    """).fetchall()
    assert grew == [(6, 1), (10, 1)]  # 100 bytes -> slot 6, 1500 bytes -> slot 10
    assert first.contents[hist.id]["value"].sum() == 1
    assert len(first.programs) >= 1 and {"host", "time"} <= set(first.maps.columns)


@pytest.mark.kernel
def test_unreadable_maps_say_why(counted, tmp_path) -> None:
    from bpfnb.snapshot import snapshot

    snap = snapshot(contents=["len_hist_hash", 2**31 - 1], host="h")
    row = snap.maps[snap.maps["id"] == counted.maps["len_hist_hash"].id]
    assert row["contents"].iloc[0] == f"map_contents/{counted.maps['len_hist_hash'].id}.parquet"
    assert "value.count" in snap.contents[counted.maps["len_hist_hash"].id].columns


@pytest.mark.kernel
def test_cli_snapshot(counted, tmp_path, capsys) -> None:
    from bpfnb.cli import main

    assert main(["snapshot", str(tmp_path / "s"), "--contents", "len_hist"]) == 0
    out = capsys.readouterr().out
    assert "programs" in out and (tmp_path / "s" / "programs.parquet").exists()
    assert list((tmp_path / "s" / "map_contents").glob("*.parquet"))


def test_shipped_snapshots_hold_what_their_recording_did() -> None:
    """Two readings of packet_sizes: 4 packets, then 6 more; every reading stamped and typed."""
    from bpfnb import examples

    root = examples.SNAPSHOTS
    runs = duckdb.sql(f"select run_cnt from '{root}/*/programs.parquet' where name = 'count_lengths' "
                      "order by time").fetchall()
    assert runs == [(4,), (10,)]
    totals = duckdb.sql(f"""
        select c.time, sum(c.value) from '{root}/*/maps.parquet' m
        join read_parquet('{root}/*/map_contents/*.parquet', union_by_name=true) c
          on c.map_id = m.id and c.time = m.time
        where m.name = 'len_hist' group by c.time order by c.time""").fetchall()
    assert [int(t) for _, t in totals] == [4, 10]


def test_shipped_snapshots_match_the_shipped_objects() -> None:
    """Rerun tools/record_example_snapshots.py when an example changes: the manifest must agree.

    The objects' digests hold on any machine; the snapshots' program tags
    must be the ones in the manifest (which the recording kernel gave).
    """
    import hashlib
    import json

    from bpfnb import examples

    manifest = json.loads((examples.SNAPSHOTS / "manifest.json").read_text())
    shipped = {n: hashlib.sha256(examples.path(n).read_bytes()).hexdigest() for n in manifest["objects"]}
    assert manifest["objects"] == shipped
    recorded = dict(duckdb.sql(f"select distinct name, tag from '{examples.SNAPSHOTS}/*/programs.parquet'").fetchall())
    assert recorded == manifest["tags"]


@pytest.mark.kernel
def test_recorded_tags_are_the_running_kernels_on_the_recording_release() -> None:
    """Program tags hash the instructions the kernel keeps, which differ between kernel versions.

    Only the release that recorded the snapshots must reproduce them; any
    other kernel must at least load the same programs (names and types).
    """
    import json
    import os

    from bpfnb import EbpfLoader, examples

    manifest = json.loads((examples.SNAPSHOTS / "manifest.json").read_text())
    live = {}
    for name in manifest["objects"]:
        with EbpfLoader().load_file(examples.path(name)) as ebpf:
            live.update({p: prog.info().tag for p, prog in ebpf.programs.items()})
    assert live.keys() == manifest["tags"].keys()
    if os.uname().release == manifest["kernel_release"]:
        assert live == manifest["tags"]
