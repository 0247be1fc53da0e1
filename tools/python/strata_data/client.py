"""Strata's dataset protocol over Arrow Flight, without torch.

The server (frontends/dataset) speaks:

- ``GetFlightInfo`` with a CMD descriptor holding JSON ``{"dataset", "epoch",
  "seed", "world_size", "batch_rows", "cursor", "columns"?}``: the schema and
  one endpoint per rank, in rank order;
- ``DoGet`` of an endpoint's ticket: record batches, each with app_metadata
  JSON ``{"position", "rows"}`` -- the rank's next global position after the
  batch, and the positions the batch consumed;
- ``DoAction`` ``commit-cursor`` (``{"name", "dataset", "epoch", "seed",
  "world_size", "position", "force"?}``) and ``get-cursor`` (``{"name"}``),
  whose result body is the stored cursor as JSON.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.flight as flight

COMMIT_CURSOR = "commit-cursor"
GET_CURSOR = "get-cursor"


def location_uri(location: str) -> str:
    """``host:port`` or a Flight URI (``grpc://host:port``) as a URI."""
    return location if "://" in location else "grpc://" + location


def first_position(cursor: int, stream: int, world_size: int) -> int:
    """The first global position at or after ``cursor`` that stream
    ``stream`` of ``world_size`` reads (positions ≡ stream mod world_size)."""
    return cursor + (stream - cursor) % world_size


class StrataClient:
    """A thin Flight client for Strata datasets. Not picklable: create one per
    process (DataLoader workers each open their own)."""

    def __init__(self, location: str, timeout: Optional[float] = None):
        self.location = location_uri(location)
        self._client = flight.FlightClient(self.location)
        self._options = flight.FlightCallOptions(timeout=timeout) if timeout else flight.FlightCallOptions()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "StrataClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def flight_info(
        self,
        dataset: str,
        epoch: int = 0,
        seed: int = 0,
        world_size: int = 1,
        batch_rows: int = 1024,
        cursor: int = 0,
        columns: Optional[Sequence[str]] = None,
    ) -> flight.FlightInfo:
        """GetFlightInfo of a read: ``info.endpoints[rank].ticket`` is rank's
        stream; ``info.total_records`` is the epoch's samples from ``cursor`` on."""
        cmd: Dict[str, Any] = {
            "dataset": dataset,
            "epoch": int(epoch),
            "seed": int(seed),
            "world_size": int(world_size),
            "batch_rows": int(batch_rows),
            "cursor": int(cursor),
        }
        if columns is not None:
            cmd["columns"] = list(columns)
        desc = flight.FlightDescriptor.for_command(json.dumps(cmd).encode())
        return self._client.get_flight_info(desc, self._options)

    def stream(self, ticket: flight.Ticket) -> Iterator[Tuple[pa.RecordBatch, Dict[str, int]]]:
        """DoGet: each record batch with its metadata ``{"position", "rows"}``."""
        reader = self._client.do_get(ticket, self._options)
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                return
            md = chunk.app_metadata
            yield chunk.data, (json.loads(md.to_pybytes()) if md is not None else {})

    def commit_cursor(
        self,
        name: str,
        dataset: str,
        epoch: int,
        seed: int,
        world_size: int,
        position: int,
        force: bool = False,
    ) -> Dict[str, Any]:
        """Store a training cursor in meta; returns it as stored. A cursor
        never goes back within an epoch unless ``force``."""
        body: Dict[str, Any] = {
            "name": name,
            "dataset": dataset,
            "epoch": int(epoch),
            "seed": int(seed),
            "world_size": int(world_size),
            "position": int(position),
        }
        if force:
            body["force"] = True
        return self._action(COMMIT_CURSOR, body)

    def get_cursor(self, name: str) -> Dict[str, Any]:
        """Read a cursor back: ``{"name", "dataset", "epoch", "seed",
        "world_size", "position", "updated_ms"}``."""
        return self._action(GET_CURSOR, {"name": name})

    def _action(self, kind: str, body: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for result in self._client.do_action(flight.Action(kind, json.dumps(body).encode()), self._options):
            out = json.loads(result.body.to_pybytes())
        return out
