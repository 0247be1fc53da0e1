"""strata_data against a real `strata serve`: ranks (explicit and from
torch.distributed), DataLoader workers, state_dict resume, and cursors
committed through DoAction."""

import os
import socket
import tempfile

import pyarrow as pa
import pytest
import torch
import torch.multiprocessing as mp

from strata_data import StrataClient, StrataDataset, first_position
from strata_data.dataset import META_STREAM

EPOCH, SEED = 1, 7


def ids_of(batches):
    out = []
    for b in batches:
        out += b.column("id").to_pylist()
    return out


def interleave(streams, cursor=0):
    """The global order from cursor on, rebuilt from each stream's ids: the
    kth sample of stream s of w is at first_position(cursor, s, w) + k*w."""
    w = len(streams)
    n = sum(len(s) for s in streams)
    out = [None] * n
    for s, ids in enumerate(streams):
        first = first_position(cursor, s, w)
        for k, v in enumerate(ids):
            out[first - cursor + k * w] = v
    assert None not in out, "the streams leave holes in the global order"
    return out


def read(server, name, **kw):
    kw.setdefault("epoch", EPOCH)
    kw.setdefault("seed", SEED)
    return ids_of(StrataDataset(server.location, name, **kw))


@pytest.fixture(scope="module")
def order(server, parquet_dataset):
    """The epoch's global order, read by one rank."""
    name, ids = parquet_dataset
    got = read(server, name, batch_rows=13)
    assert sorted(got) == ids
    assert got != ids, "the epoch is not shuffled"
    return got


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_ranks_disjoint_and_complete(server, parquet_dataset, order, world):
    name, ids = parquet_dataset
    ranks = [read(server, name, batch_rows=13, rank=r, world_size=world) for r in range(world)]
    flat = [v for r in ranks for v in r]
    assert len(flat) == len(set(flat)), "a sample was read by two ranks"
    assert sorted(flat) == ids, "the ranks together do not read every sample"
    assert interleave(ranks) == order, "the global order depends on the world size"


def test_epochs_and_columns(server, parquet_dataset, order):
    name, ids = parquet_dataset
    assert read(server, name, epoch=2) != order
    ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, columns=["id", "score"], batch_rows=50)
    batches = list(ds)
    assert all(b.schema.names == ["id", "score"] for b in batches)
    assert all(b.num_rows == 50 for b in batches[:-1])
    assert ids_of(batches) == order
    rows = list(StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, columns=["id", "label"], rows=True))
    assert [r["id"] for r in rows] == order
    assert rows[0] == {"id": order[0], "label": "label-%d" % (order[0] % 10)}


def test_bad_request_names_the_field(server, parquet_dataset):
    name, _ = parquet_dataset
    with pytest.raises(Exception) as e:
        list(StrataDataset(server.location, name, columns=["nope"]))
    assert "columns" in str(e.value)
    with pytest.raises(Exception) as e:
        list(StrataDataset(server.location, "no-such-dataset"))
    assert "no-such-dataset" in str(e.value)


def test_resume_from_state_dict(server, parquet_dataset, order):
    name, _ = parquet_dataset
    ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=11)
    it = iter(ds)
    first = ids_of([next(it) for _ in range(5)])
    sd = ds.state_dict()
    assert sd["cursor"] == 55 and sd["world_size"] == 1 and sd["positions"] == [[0, 55]]
    del it

    ds2 = StrataDataset(server.location, name, batch_rows=7)
    ds2.load_state_dict(sd)
    assert ds2.state_dict() == sd, "state_dict does not round-trip through load_state_dict"
    assert first + ids_of(ds2) == order, "the resumed read is not the rest of the epoch"
    assert ds2.state_dict()["cursor"] == len(order)

    # Rows: a cursor in the middle of a batch.
    ds3 = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=10, rows=True)
    it = iter(ds3)
    head = [next(it)["id"] for _ in range(23)]
    sd = ds3.state_dict()
    assert sd["cursor"] == 23
    del it
    ds4 = StrataDataset(server.location, name, rows=True)
    ds4.load_state_dict(sd)
    assert head + [r["id"] for r in ds4] == order


def test_resume_with_another_world_size(server, parquet_dataset, order):
    """Two ranks stop at different points; the job resumes at the least
    cursor with three ranks: nothing is skipped, and the rest of the epoch
    is read in global order."""
    name, _ = parquet_dataset
    states = []
    for rank, batches in [(0, 4), (1, 3)]:
        ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=5, rank=rank, world_size=2)
        it = iter(ds)
        for _ in range(batches):
            next(it)
        states.append(ds.state_dict())
        del it
    cursor = min(s["cursor"] for s in states)
    assert cursor == 31  # rank 1 read positions 1, 3, ..., 29; rank 0 every even one below 40
    ranks = []
    for rank in range(3):
        ds = StrataDataset(server.location, name, batch_rows=5, rank=rank, world_size=3)
        ds.load_state_dict(dict(states[0], cursor=cursor, world_size=None, positions=[]))
        ranks.append(ids_of(ds))
    assert interleave(ranks, cursor) == order[cursor:]


def test_worker_split(server, parquet_dataset, order):
    """Two DataLoader workers are two streams of world size 2: disjoint,
    complete, and in global order when interleaved."""
    name, ids = parquet_dataset
    ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=9)
    streams = [[], []]
    for batch in ds.loader(num_workers=2):
        md = batch.schema.metadata
        streams[int(md[META_STREAM])] += batch.column("id").to_pylist()
    flat = streams[0] + streams[1]
    assert len(flat) == len(set(flat)) and sorted(flat) == ids
    assert streams[0] and streams[1], "one worker read nothing"
    assert interleave(streams) == order
    sd = ds.state_dict()
    assert sd["world_size"] == 2 and sd["cursor"] == len(order)


def test_worker_resume(server, parquet_dataset, order):
    """state_dict with workers counts what the loop took (not what workers
    prefetched): resuming with the same workers repeats and skips nothing."""
    name, ids = parquet_dataset
    ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=9)
    taken = []
    it = ds.loader(num_workers=2)
    for _ in range(7):
        taken += next(it).column("id").to_pylist()
    sd = ds.state_dict()
    it.close()
    assert sd["world_size"] == 2 and len(sd["positions"]) == 2
    ds2 = StrataDataset(server.location, name, batch_rows=9)
    ds2.load_state_dict(sd)
    rest = []
    for batch in ds2.loader(num_workers=2):
        rest += batch.column("id").to_pylist()
    assert len(taken) + len(rest) == len(ids)
    assert sorted(taken + rest) == ids, "resuming with workers repeated or skipped samples"


def test_commit_and_restore(server, parquet_dataset, order):
    name, _ = parquet_dataset
    ds = StrataDataset(server.location, name, epoch=EPOCH, seed=SEED, batch_rows=10)
    it = iter(ds)
    head = ids_of([next(it) for _ in range(3)])
    stored = ds.commit("py-job")
    del it
    assert stored["position"] == 30 and stored["dataset"] == name and stored["epoch"] == EPOCH
    with StrataClient(server.location) as c:
        assert c.get_cursor("py-job")["position"] == 30
        with pytest.raises(Exception) as e:  # a cursor does not go back
            c.commit_cursor("py-job", name, EPOCH, SEED, 1, 10)
        assert "goes back" in str(e.value)

    ds2 = StrataDataset(server.location, name, epoch=0, seed=0)
    c = ds2.restore("py-job")
    assert (ds2.epoch, ds2.seed, ds2.cursor) == (EPOCH, SEED, 30) and c["name"] == "py-job"
    assert head + ids_of(ds2) == order
    with pytest.raises(Exception) as e:
        ds2.restore("nobody")
    assert "nobody" in str(e.value)


def _distributed_rank(rank, world, port, location, name, out_dir):
    torch.distributed.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=world)
    try:
        ds = StrataDataset(location, name, epoch=EPOCH, seed=SEED, batch_rows=8)
        assert ds.ranks() == (rank, world)
        got = ids_of(ds)
        cursor = ds.job_cursor()  # a collective: the least over ranks
        with open(os.path.join(out_dir, "rank-%d" % rank), "w") as f:
            f.write("%d\n%s\n" % (cursor, " ".join(map(str, got))))
    finally:
        torch.distributed.destroy_process_group()


def test_torch_distributed_ranks(server, parquet_dataset, order):
    """Ranks from torch.distributed (gloo, two processes) read what explicit
    rank/world_size read: disjoint, complete, in global order."""
    name, ids = parquet_dataset
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_distributed_rank, args=(2, port, server.location, name, d), nprocs=2, join=True)
        ranks, cursors = [], []
        for r in range(2):
            with open(os.path.join(d, "rank-%d" % r)) as f:
                cursor, line = f.read().split("\n")[:2]
            cursors.append(int(cursor))
            ranks.append([int(v) for v in line.split()])
    assert cursors == [len(ids), len(ids)]
    assert interleave(ranks) == order
    assert ranks[1] == read(server, name, batch_rows=8, rank=1, world_size=2)


def test_batches_are_arrow(server, parquet_dataset):
    name, _ = parquet_dataset
    b = next(iter(StrataDataset(server.location, name, batch_rows=4)))
    assert isinstance(b, pa.RecordBatch) and b.num_rows == 4
    assert b.schema.field("id").type == pa.int64()
