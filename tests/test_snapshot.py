"""Snapshots of the kernel's BPF state as Parquet, queried back with DuckDB."""

from __future__ import annotations

import pytest

from helpers import fixture_path

pytestmark = pytest.mark.kernel

duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def counted():
    from bpfnb import EbpfLoader

    with EbpfLoader().load_file(fixture_path("packet_sizes")) as ebpf:
        yield ebpf


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


def test_unreadable_maps_say_why(counted, tmp_path) -> None:
    from bpfnb.snapshot import snapshot

    snap = snapshot(contents=["len_hist_hash", 2**31 - 1], host="h")
    row = snap.maps[snap.maps["id"] == counted.maps["len_hist_hash"].id]
    assert row["contents"].iloc[0] == f"map_contents/{counted.maps['len_hist_hash'].id}.parquet"
    assert "value.count" in snap.contents[counted.maps["len_hist_hash"].id].columns


def test_cli_snapshot(counted, tmp_path, capsys) -> None:
    from bpfnb.cli import main

    assert main(["snapshot", str(tmp_path / "s"), "--contents", "len_hist"]) == 0
    out = capsys.readouterr().out
    assert "programs" in out and (tmp_path / "s" / "programs.parquet").exists()
    assert list((tmp_path / "s" / "map_contents").glob("*.parquet"))
