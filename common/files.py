"""Atomic writes: a reader never sees a half-written checkpoint, model or metrics file."""
import os
import tempfile
from pathlib import Path

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


def atomic_torch_save(obj, path: Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def load_torch_file(path: Path, what: str) -> dict:
    """A dict saved with torch.save; a missing, corrupt or non-dict file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        # Our own files hold configs and metrics beside tensors, so they are not weights-only.
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        raise UserError(f"{what} {path} is corrupt or not a torch file") from None
    if not isinstance(payload, dict):
        raise UserError(f"{what} {path} does not hold a dict")
    return payload
