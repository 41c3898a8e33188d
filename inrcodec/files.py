"""Reading inputs and writing outputs safely: temporary file and rename, never a partial output.

An output is written to a temporary file in its folder, then published under its name in one
step: without ``force`` by a hard link, which fails if the name exists (so a file created
meanwhile is not overwritten), with ``force`` by a rename. The input is only ever opened for
reading, and an output that is the input (same path, a symlink to it, a hard link to it) is refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same spelling resolved, or the same inode (links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_output(dst, src=None, force: bool = False) -> Path:
    """Refuse an output that exists (without ``force``) or that is the input itself."""
    dst = Path(dst)
    if src is not None and _same_file(Path(src), dst):
        raise InrError(f"output {dst} is the input file")
    if dst.is_dir():
        raise InrError(f"output {dst} is a directory")
    if (dst.exists() or dst.is_symlink()) and not force:
        raise InrError(f"{dst} exists (use --force to overwrite)")
    if not dst.parent.is_dir():
        raise InrError(f"no such folder for the output: {dst.parent}")
    return dst


def _publish(tmp: Path, dst: Path, force: bool) -> None:
    if force:
        os.replace(tmp, dst)
        return
    try:
        os.link(tmp, dst)  # fails if dst exists, unlike a rename
    except FileExistsError:
        raise InrError(f"{dst} exists (use --force to overwrite)") from None
    except OSError:  # no hard links on this file system
        if dst.exists() or dst.is_symlink():
            raise InrError(f"{dst} exists (use --force to overwrite)") from None
        os.replace(tmp, dst)
        return
    tmp.unlink()


@contextlib.contextmanager
def writing(dst, src=None, force: bool = False):
    """A temporary path in ``dst``'s folder, published as ``dst`` if the block succeeds.

    On any failure the temporary file is removed and ``dst`` is left as it was. The file gets
    the permissions of any new file (0666 less the umask).
    """
    dst = check_output(dst, src, force)
    while True:
        tmp = dst.parent / f".{dst.name}.{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise InrError(f"cannot write {dst}: {e.strerror}") from None
    try:
        yield tmp
        _publish(tmp, dst, force)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
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
