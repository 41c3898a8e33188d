"""Reading inputs and writing outputs safely: temporary file and rename, never a partial output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import InrError

MAX_INPUT_BYTES = 2**32


def read_bytes(path) -> bytes:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InrError(f"{path} is larger than {MAX_INPUT_BYTES} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise InrError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InrError(f"{path} is a directory") from None
    except OSError as e:
        raise InrError(f"cannot read {path}: {e.strerror}") from None


def check_output(dst, src=None, force: bool = False) -> Path:
    """Refuse an output that exists (without ``force``) or that is the input itself."""
    dst = Path(dst)
    if src is not None and Path(src).resolve() == dst.resolve():
        raise InrError(f"output {dst} is the input file")
    if dst.is_dir():
        raise InrError(f"output {dst} is a directory")
    if dst.exists() and not force:
        raise InrError(f"{dst} exists (use --force to overwrite)")
    if not dst.parent.is_dir():
        raise InrError(f"no such folder for the output: {dst.parent}")
    return dst


@contextlib.contextmanager
def writing(dst, src=None, force: bool = False):
    """A temporary path in ``dst``'s folder that is renamed to ``dst`` if the block succeeds.

    On any failure the temporary file is removed and ``dst`` is left as it was.
    """
    dst = check_output(dst, src, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, dst)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, InrError):
            raise InrError(f"cannot write {dst}: {e.strerror or e}") from None
        raise


def write_bytes(dst, data: bytes, src=None, force: bool = False) -> Path:
    """Write ``data`` to ``dst`` through a temporary file in the same folder and a rename."""
    with writing(dst, src, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(dst)
