"""StrataDataset: a torch IterableDataset over a Strata dataset.

Streams. The server splits an epoch's global order among ``world_size``
readers: reader ``r`` reads the global positions ``g ≡ r (mod world_size)``,
in order. A training job has ``ranks`` processes (torch.distributed) and
each may run ``workers`` DataLoader workers; every (rank, worker) pair is
one reader, a *stream*::

    world_size = ranks * workers
    stream     = rank * workers + worker

so rank 0's workers read positions 0, 1, ..., workers-1 of every round of
``world_size`` positions, rank 1's the next ``workers``, and so on. The
streams are disjoint and together read every sample of the epoch once, and
the global order does not depend on the split: a DataLoader that takes one
batch from each worker in turn (its default, in-order) hands a rank its
share of the epoch in global order, batch by batch.

Cursors. Every batch the server sends carries its stream's next global
position. The dataset records, per stream, the position after the last
item the training loop has taken (in the main process: items are observed
as the loop receives them, not when a worker produces them, so batches a
DataLoader prefetched but the loop never saw are read again on resume).
``state_dict()`` holds this rank's streams' positions and their least,
``cursor``:

- resumed with the same ``world_size`` (ranks * workers), every stream
  starts at its own position: nothing is repeated or skipped;
- resumed with another ``world_size``, the read starts at ``cursor`` (the
  job's cursor is the least over ranks, see ``commit``): nothing is
  skipped, and at most the streams' lead over the slowest one is read again.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pyarrow as pa
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .client import StrataClient, first_position

# Schema metadata keys on every yielded record batch (batches mode).
META_STREAM = b"strata.stream"
META_WORLD = b"strata.world_size"
META_POSITION = b"strata.position"


def _ranks(rank: Optional[int], world_size: Optional[int]) -> Tuple[int, int]:
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("give both rank and world_size, or neither")
        return rank, world_size
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class StrataDataset(IterableDataset):
    """An epoch of a Strata dataset, read over Arrow Flight.

    Args:
        location: the server's Flight address, ``host:port`` or
            ``grpc://host:port`` (strata serve --flight-addr, 8815).
        dataset: the registered dataset's name.
        epoch, seed: the epoch's order is a function of (seed, epoch).
        batch_rows: samples per record batch the server sends.
        columns: the columns to read (None: all).
        cursor: global position to start at (samples of the epoch already
            consumed by the whole job).
        rows: yield rows (dicts, ``RecordBatch.to_pylist()``) instead of
            ``pyarrow.RecordBatch``es.
        rank, world_size: override torch.distributed's rank and world size
            (both or neither; default: torch.distributed when it is
            initialised, else 0 of 1).
        timeout: seconds per Flight call (None: none).
    """

    def __init__(
        self,
        location: str,
        dataset: str,
        epoch: int = 0,
        seed: int = 0,
        batch_rows: int = 1024,
        columns: Optional[Sequence[str]] = None,
        cursor: int = 0,
        *,
        rows: bool = False,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        timeout: Optional[float] = None,
    ):
        super().__init__()
        if cursor < 0:
            raise ValueError(f"cursor {cursor} is negative")
        self.location = location
        self.dataset = dataset
        self.epoch = int(epoch)
        self.seed = int(seed)
        self.batch_rows = int(batch_rows)
        self.columns = list(columns) if columns is not None else None
        self.cursor = int(cursor)
        self.rows = rows
        self.timeout = timeout
        self._rank, self._world_size = rank, world_size
        _ranks(rank, world_size)  # validate the pair now
        # Progress: the stream world size seen, each stream's next position.
        self._world: Optional[int] = None
        self._positions: Dict[int, int] = {}
        self._total: Optional[int] = None
        # Per-stream positions from load_state_dict: (world_size, {stream: position}).
        self._resume: Optional[Tuple[int, Dict[int, int]]] = None

    # ---- topology

    def ranks(self) -> Tuple[int, int]:
        """This process's (rank, number of ranks)."""
        return _ranks(self._rank, self._world_size)

    def stream(self) -> Tuple[int, int]:
        """The calling process's (stream, world_size) on the server:
        ``rank * workers + worker`` of ``ranks * workers``."""
        rank, ranks = self.ranks()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, ranks * workers

    # ---- reading

    def _start(self, stream: int, world: int) -> Tuple[int, int]:
        """(cursor to ask the server for, this stream's first position)."""
        if self._resume is not None and self._resume[0] == world and stream in self._resume[1]:
            p = self._resume[1][stream]
            return p, p
        return self.cursor, first_position(self.cursor, stream, world)

    def __iter__(self) -> Iterator[Union[pa.RecordBatch, Dict[str, Any]]]:
        stream, world = self.stream()
        ask, pos = self._start(stream, world)
        with StrataClient(self.location, self.timeout) as client:
            info = client.flight_info(
                self.dataset, self.epoch, self.seed, world, self.batch_rows, ask, self.columns
            )
            self._total = ask + info.total_records
            pos = min(pos, self._total)
            self._record(stream, world, pos)
            if pos >= self._total:
                return
            for batch, md in client.stream(info.endpoints[stream].ticket):
                end = int(md.get("position", pos + batch.num_rows * world))
                if not self.rows:
                    self._record(stream, world, end)
                    yield _tag(batch, stream, world, end)
                elif batch.num_rows == int(md.get("rows", batch.num_rows)):
                    # No holes: row i is at pos + i*world.
                    for i, row in enumerate(batch.to_pylist()):
                        self._record(stream, world, min(pos + (i + 1) * world, end))
                        yield row
                else:
                    # A topic batch with offsets that hold no record: the
                    # rows' positions are unknown, so the position moves
                    # when the batch's last row is taken.
                    out = batch.to_pylist()
                    for i, row in enumerate(out):
                        if i == len(out) - 1:
                            self._record(stream, world, end)
                        yield row
                    if not out:
                        self._record(stream, world, end)
                pos = end

    def _record(self, stream: int, world: int, position: int) -> None:
        if self._world != world:
            self._world, self._positions = world, {}
        self._positions[stream] = position

    def observe(self, item: Any) -> Any:
        """Record that the training loop took ``item`` (a record batch this
        dataset yielded, possibly from a DataLoader worker); returns it.
        ``loader()`` calls it for you. Rows carry no stream metadata: with
        DataLoader workers, use batches (``rows=False``) to track cursors."""
        if isinstance(item, pa.RecordBatch):
            md = item.schema.metadata or {}
            if META_STREAM in md:
                self._record(int(md[META_STREAM]), int(md[META_WORLD]), int(md[META_POSITION]))
        return item

    def loader(self, **kwargs: Any) -> Iterator[Any]:
        """Iterate a ``torch.utils.data.DataLoader`` over this dataset
        (``batch_size=None`` unless given: the server batches), observing
        every item the loop takes, so ``state_dict()`` is exact with workers.
        Workers are spawned unless ``multiprocessing_context`` says
        otherwise: gRPC (under pyarrow.flight) does not survive a fork of a
        process that has used it."""
        kwargs.setdefault("batch_size", None)
        if kwargs.get("num_workers", 0) > 0:
            kwargs.setdefault("multiprocessing_context", "spawn")
        for item in DataLoader(self, **kwargs):
            yield self.observe(item)

    def set_epoch(self, epoch: int, seed: Optional[int] = None) -> None:
        """Move to the start of another epoch."""
        self.epoch = int(epoch)
        if seed is not None:
            self.seed = int(seed)
        self.cursor = 0
        self._world, self._positions, self._total, self._resume = None, {}, None, None

    # ---- cursors

    def _position(self, stream: int, world: int) -> int:
        if self._world == world and stream in self._positions:
            return self._positions[stream]
        p = self._start(stream, world)[1]
        return min(p, self._total) if self._total is not None else p

    def state_dict(self) -> Dict[str, Any]:
        """This rank's progress: ``cursor`` (the least position of its
        streams) and each stream's position (``positions``: [stream,
        position] pairs) for ``world_size`` streams."""
        world = self._world if self._world is not None else (self._resume[0] if self._resume else None)
        sd: Dict[str, Any] = {
            "dataset": self.dataset,
            "epoch": self.epoch,
            "seed": self.seed,
            "cursor": self.cursor,
            "world_size": world,
            "positions": [],
        }
        if world is not None:
            rank, ranks = self.ranks()
            if world % ranks:
                raise RuntimeError(f"{world} streams do not split over {ranks} ranks")
            per = world // ranks
            positions: List[List[int]] = [[s, self._position(s, world)] for s in range(rank * per, (rank + 1) * per)]
            sd["positions"] = positions
            sd["cursor"] = min(p for _, p in positions)
        return sd

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        """Resume from ``state_dict()``'s output (of the same dataset)."""
        if sd.get("dataset") != self.dataset:
            raise ValueError(f"state of dataset {sd.get('dataset')!r}, not {self.dataset!r}")
        self.epoch, self.seed, self.cursor = int(sd["epoch"]), int(sd["seed"]), int(sd["cursor"])
        self._world, self._positions, self._total = None, {}, None
        world = sd.get("world_size")
        self._resume = (int(world), {int(s): int(p) for s, p in sd.get("positions", [])}) if world else None

    def job_cursor(self) -> int:
        """The job's cursor: the least over ranks of state_dict()["cursor"]
        (a collective when torch.distributed is initialised: every rank
        must call it)."""
        c = self.state_dict()["cursor"]
        if self._rank is None and dist.is_available() and dist.is_initialized():
            t = torch.tensor([c], dtype=torch.int64)
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            c = int(t.item())
        return c

    def commit(self, name: str, force: bool = False) -> Dict[str, Any]:
        """Store the job's cursor in the server's meta under ``name``
        (DoAction commit-cursor); returns it as stored. A collective under
        torch.distributed (every rank calls it; rank 0 writes)."""
        position = self.job_cursor()
        rank, _ = self.ranks()
        world = self._world or 1
        if self._rank is None and dist.is_available() and dist.is_initialized() and rank != 0:
            return {"name": name, "dataset": self.dataset, "epoch": self.epoch, "seed": self.seed,
                    "world_size": world, "position": position}
        with StrataClient(self.location, self.timeout) as client:
            return client.commit_cursor(name, self.dataset, self.epoch, self.seed, world, position, force)

    def restore(self, name: str) -> Dict[str, Any]:
        """Continue from the cursor stored under ``name`` (DoAction
        get-cursor): its epoch, seed and position. Returns the cursor."""
        with StrataClient(self.location, self.timeout) as client:
            c = client.get_cursor(name)
        if c.get("dataset") != self.dataset:
            raise ValueError(f"cursor {name!r} belongs to dataset {c.get('dataset')!r}, not {self.dataset!r}")
        self.epoch, self.seed, self.cursor = int(c["epoch"]), int(c["seed"]), int(c["position"])
        self._world, self._positions, self._total, self._resume = None, {}, None, None
        return c

    def __getstate__(self) -> Dict[str, Any]:
        # Pickled into DataLoader workers: plain fields only (no clients).
        return dict(self.__dict__)


def _tag(batch: pa.RecordBatch, stream: int, world: int, position: int) -> pa.RecordBatch:
    md = dict(batch.schema.metadata or {})
    md[META_STREAM] = str(stream).encode()
    md[META_WORLD] = str(world).encode()
    md[META_POSITION] = str(position).encode()
    return batch.replace_schema_metadata(md)
