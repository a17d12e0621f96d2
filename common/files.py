"""Atomic writes: a reader never sees a half-written checkpoint, model or metrics file."""
import csv
import io
import os
import pickle
import tempfile
from collections import OrderedDict
import warnings
from pathlib import Path, PurePath

import numpy as np
import torch

from common.errors import UserError


def atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# What a saved torch file may hold: what ``torch.load(weights_only=True)`` reads back without
# running code. Anything else (numpy scalars, dataclasses, paths) would make the file unloadable.
PLAIN_SCALARS = (bool, int, float, str, bytes, type(None))


def plain_payload(obj, where: str = "payload"):
    """``obj`` with numpy scalars turned into Python scalars and paths into strings; a TypeError
    (a programming error, raised before anything is written) names any other non-plain value."""
    if isinstance(obj, np.generic):  # first: np.float64 is also a float
        return obj.item()
    if isinstance(obj, torch.Tensor) or type(obj) in PLAIN_SCALARS:  # exact types: an enum is no plain int
        return obj
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, dict):
        # A state dict's OrderedDict stays one (weights-only loading knows it).
        plain = OrderedDict if isinstance(obj, OrderedDict) else dict
        return plain((plain_payload(k, where), plain_payload(v, f"{where}[{k!r}]")) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_payload(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise TypeError(f"{where} is a {type(obj).__name__}; a saved torch file holds only tensors, dicts, lists, "
                    f"tuples and Python scalars (so that it loads with weights_only=True)")


def atomic_torch_save(obj, path: Path) -> None:
    payload = plain_payload(obj)
    atomic_write(path, lambda handle: torch.save(payload, handle))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def atomic_write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` (dicts with the first row's keys) as a CSV file with a header; nothing for no rows."""
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def load_torch_file(path: Path, what: str) -> dict:
    """A dict saved with torch.save; a missing, corrupt or non-dict file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        # Weights-only: a file from elsewhere (a download, a shared zoo or sync dir) must not run
        # code when it is read. Our files hold only tensors, plain containers and Python scalars.
        with warnings.catch_warnings():  # torch's notes on odd pickles would be a second line
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):
            raise UserError(f"{what} {path} holds Python objects other than tensors and plain data "
                            f"(loading it could run code); refused") from None
        raise UserError(f"{what} {path} is corrupt or not a torch file") from None
    except Exception:
        raise UserError(f"{what} {path} is corrupt or not a torch file") from None
    if not isinstance(payload, dict):
        raise UserError(f"{what} {path} does not hold a dict")
    return payload
