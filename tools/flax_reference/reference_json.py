"""The JSON array encoding the Rust conformance tests read (nnx-layers/tests/common)."""

import numpy as np


def arr(x):
    """`{"shape": [...], "data": [...]}` with bools, ints or float32 values."""
    x = np.asarray(x)
    if x.dtype == np.bool_:
        data = [bool(v) for v in x.ravel()]
    elif np.issubdtype(x.dtype, np.integer):
        data = [int(v) for v in x.ravel()]
    else:
        data = [float(v) for v in x.astype(np.float32).ravel()]
    return {"shape": list(x.shape), "data": data}
