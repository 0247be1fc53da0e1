"""strata_data: training data from a Strata server, over Arrow Flight.

    from strata_data import StrataDataset

    ds = StrataDataset("127.0.0.1:8815", "images", epoch=0, seed=7, batch_rows=256)
    for batch in ds.loader(num_workers=4):   # pyarrow.RecordBatch
        step(batch)
        if time_to_checkpoint():
            save({"data": ds.state_dict(), ...})   # or ds.commit("job-42")

See strata_data.dataset for how ranks and DataLoader workers split an epoch
and how cursors resume it.
"""

from .client import StrataClient, first_position
from .dataset import StrataDataset

__all__ = ["StrataClient", "StrataDataset", "first_position"]
__version__ = "0.1.0"
