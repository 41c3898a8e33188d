"""Batch conversion of a folder tree: walking, scheduling, manifest and resume.

Every file under SRC whose suffix is in ``codec.SOURCE_SUFFIXES`` (encoding) or that ends in ``.inr`` (decoding)
becomes one output under DST at the same relative path. The work runs in worker processes on
this machine (``jobs``) or as Ray tasks on a cluster (``ray``); either way:

- resume: an output that exists and is not older than its source is skipped, so a batch killed
  at any moment (even ``kill -9``) finishes the rest when run again. Outputs are only ever
  written by ``files.write_bytes`` (temporary file + rename), so none is ever partial; the
  temporaries a killed run leaves behind are deleted by the next run.
- one bad file does not stop the batch: it is recorded as failed with its one-line error.
- the manifest ``DST/manifest.jsonl`` is an append-only log while the batch runs, one JSON
  object per line written by a single append (a killed run leaves whole lines; a reader skips a
  line it cannot parse). At the end of every run it is rewritten (temporary file + rename) to
  one line per output, the latest record of each, sorted by output path; an output that was up
  to date keeps its last successful record, or gets a ``skipped`` record when it has none.

Only this process writes the manifest; Ray tasks get the source bytes and return the output
bytes, so a cluster needs inrcodec installed on its nodes but no shared file system.
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import json
import multiprocessing
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import codec, files
from .errors import InrError

MANIFEST = "manifest.jsonl"
INR = ".inr"


# What the batch decodes .inr files to: any output a kind can be decoded to (.npy: float32
# samples of any kind). It encodes the files of codec.SOURCE_SUFFIXES.
DECODE_TO = tuple(dict.fromkeys(s[1:] for m in codec.MEDIA.values() for s in m.outputs))


@dataclass(frozen=True)
class Job:
    source: str  # relative to SRC, with forward slashes
    output: str  # relative to DST


def threads_per_worker(jobs: int) -> int:
    """The cores this process may use, split between ``jobs`` workers; at most $OMP_NUM_THREADS when set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cores // jobs)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(share, int(limit)) if limit.isdigit() and int(limit) > 0 else share


# ---------------------------------------------------------------------------- planning


def _sources(src: Path, dst: Path, decode: bool):
    """Relative paths of the files to convert under ``src``, sorted; DST's subtree is left out."""
    skip = dst.resolve() if dst.resolve() != src.resolve() else None
    for folder, dirs, names in os.walk(src):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        for name in sorted(names):
            suffix = Path(name).suffix.lower()
            wanted = suffix == INR if decode else suffix in codec.SOURCE_SUFFIXES
            if wanted and not name.startswith("."):
                yield (here / name).relative_to(src).as_posix()


def plan(src: Path, dst: Path, decode_to: str | None, force: bool = False):
    """(to do, up to date, clashes) for the tree: lists of Job, and of (Job, error) for clashes."""
    todo, current, clashes, taken = [], [], [], {}
    suffix = "." + decode_to if decode_to else INR
    for source in _sources(src, dst, decode_to is not None):
        job = Job(source, Path(source).with_suffix(suffix).as_posix())
        if job.output in taken:
            clashes.append((job, f"same output {job.output} as {taken[job.output]}"))
            continue
        taken[job.output] = source
        out = dst / job.output
        try:
            fresh = out.stat().st_mtime_ns >= (src / source).stat().st_mtime_ns
        except FileNotFoundError:
            fresh = False
        (current if fresh and not force else todo).append(job)
    return todo, current, clashes


def _remove_temporaries(path: Path):
    """What files.write_bytes of ``path`` leaves behind when killed between write and rename."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- one file


def convert(src, dst, decode_to: str | None, options: dict) -> tuple[dict | None, str | None]:
    """(codec result, None) or (None, one-line error): never raises for a bad file."""
    try:
        run = codec.decode if decode_to else codec.encode
        return run(src, dst, force=True, **options), None
    except InrError as e:
        return None, str(e)
    except MemoryError:
        return None, "out of memory"
    except Exception as e:  # a bug of ours: still recorded, and the batch goes on
        return None, f"internal error: {type(e).__name__}: {e}"


def _set_threads(threads: int):
    """Torch threads of this worker, set before any torch work."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _worker_init(threads: int, parent: int):
    _set_threads(threads)

    def exit_with_parent():  # a killed batch takes its workers with it
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()


def _ray_convert(source: str, output: str, data: bytes, decode_to: str | None, options: dict, threads: int):
    """A Ray task: convert the bytes of one file in a private folder, return the output bytes.

    The files there have the names of ``source`` and ``output`` (the paths on the machine that
    runs the batch), and an error names those paths, as it would on that machine.
    """
    _set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="inrcodec-") as tmp:
        src, dst = Path(tmp) / "in" / Path(source).name, Path(tmp) / Path(output).name
        src.parent.mkdir()
        src.write_bytes(data)
        result, error = convert(src, dst, decode_to, options)
        if error:
            error = error.replace(str(src), source).replace(str(dst), output)
        return result, error, dst.read_bytes() if result else None


# ---------------------------------------------------------------------------- runners


class _InProcess:
    """One file at a time in this process (``jobs=1``): no worker to start."""

    capacity = 1

    def __init__(self, threads: int):
        self.threads, self.saved = threads, None

    def submit(self, job: Job, src: Path, dst: Path, decode_to, options):
        if self.saved is None:  # torch is imported when there is work, not before
            import torch

            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        handle = cf.Future()
        handle.set_result(convert(src / job.source, dst / job.output, decode_to, options))
        return handle

    def wait(self, handles):
        return list(handles)

    def outcome(self, handle, job: Job, dst: Path):
        return handle.result()

    def close(self):
        if self.saved is not None:
            import torch

            torch.set_num_threads(self.saved)


class _Processes:
    """Worker processes on this machine (spawned, so torch starts clean in each)."""

    def __init__(self, jobs: int, threads: int):
        self.jobs, self.threads, self.pool, self.handles = jobs, threads, None, set()
        self.capacity = jobs

    def submit(self, job: Job, src: Path, dst: Path, decode_to, options):
        if self.pool is None:
            self.pool = cf.ProcessPoolExecutor(self.jobs, multiprocessing.get_context("spawn"),
                                               initializer=_worker_init, initargs=(self.threads, os.getpid()))
            self.handles = set()
        handle = self.pool.submit(convert, str(src / job.source), str(dst / job.output), decode_to, options)
        self.handles.add(handle)
        return handle

    def wait(self, handles):
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return done

    def outcome(self, handle, job: Job, dst: Path):
        try:
            return handle.result()
        except cf.process.BrokenProcessPool:  # a worker died (crash, killed, out of memory)
            if handle in self.handles:  # the first news of it: the next file starts a new pool
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
                self.handles = set()
            return None, "the worker process died while converting this file"

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _Ray:
    """Ray tasks, one per file: the source bytes go out, the output bytes come back."""

    def __init__(self, address: str, device: str, threads: int):
        try:
            import ray
        except ImportError:
            raise InrError("--ray needs Ray: pip install 'inrcodec[ray]'") from None
        self.ray, self.threads, self.started = ray, threads, False
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False)
            except Exception as e:
                raise InrError(f"cannot connect to the Ray cluster at {address}: {str(e).splitlines()[0]}") from None
            self.started = True
        self.task = ray.remote(_ray_convert).options(
            num_cpus=threads, num_gpus=1 if device == "cuda" else 0, max_retries=0)
        self.capacity = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)

    def submit(self, job: Job, src: Path, dst: Path, decode_to, options):
        data = files.read_bytes(src / job.source)
        return self.task.remote(str(src / job.source), str(dst / job.output), data, decode_to, options, self.threads)

    def wait(self, handles):
        done, _ = self.ray.wait(list(handles), num_returns=1)
        return done

    def outcome(self, handle, job: Job, dst: Path):
        try:
            result, error, data = self.ray.get(handle)
        except Exception as e:  # the task itself failed: worker or node lost
            return None, f"Ray task failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if result is not None:
            try:
                files.write_bytes(dst / job.output, data, force=True)
            except InrError as e:
                return None, str(e)
        return result, error

    def close(self):
        if self.started:
            self.ray.shutdown()


# ---------------------------------------------------------------------------- the manifest


def read_manifest(path: Path) -> list[dict]:
    """The records of a manifest; lines that do not parse (a torn last line) are skipped."""
    records = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "output" in record:
            records.append(record)
    return records


def _record(job: Job, src: Path, dst: Path, status: str, result: dict | None, error: str | None, seconds=None):
    try:
        source_bytes = (src / job.source).stat().st_size
    except OSError:
        source_bytes = None
    record = {"source": job.source, "output": job.output, "status": status, "source_bytes": source_bytes}
    if status == "skipped":
        record["bytes"] = (dst / job.output).stat().st_size
    record.update({k: v for k, v in (result or {}).items() if k not in ("input", "output")})
    record.update({"seconds": seconds, "error": error})
    return record


def _compact(path: Path, current: list[dict]):
    """Rewrite the manifest: one line per output, the latest record, sorted by output."""
    latest = {r["output"]: r for r in read_manifest(path)}
    for record in current:  # up to date: keep the last success, else say skipped
        if latest.get(record["output"], {}).get("status") != "ok":
            latest[record["output"]] = record
    text = "".join(json.dumps(latest[k]) + "\n" for k in sorted(latest))
    files.write_bytes(path, text.encode("utf-8"), force=True)


# ---------------------------------------------------------------------------- the batch


def run(
    src,
    dst,
    *,
    decode_to: str | None = None,
    options: dict | None = None,
    jobs: int = 1,
    ray: str | None = None,
    threads: int | None = None,
    force: bool = False,
    progress: Callable[[int, int, dict | None], None] | None = None,
) -> dict:
    """Convert the tree ``src`` into ``dst``; returns counts, the failures and the manifest path.

    ``decode_to`` is None to encode media, or a suffix of DECODE_TO (without the dot) to decode
    .inr files; ``options`` go to codec.encode (quality, iterations, partitions, device, seed) or
    codec.decode (device). ``jobs`` worker processes (1: this process) with ``threads`` torch
    threads each [default: cores // jobs, at most $OMP_NUM_THREADS]; or ``ray`` (a cluster
    address, or 'auto'), a task per file with ``threads`` CPUs each [default 1]. ``force``
    converts up-to-date outputs again.
    ``progress(done, total, record)`` is called once before the first file with record None,
    then after every file.
    """
    src, dst, options = Path(src), Path(dst), dict(options or {})
    if not src.is_dir():
        raise InrError(f"{src} is not a folder")
    if decode_to is not None and decode_to not in DECODE_TO:
        raise InrError(f"cannot decode to {decode_to}: choose one of {', '.join(DECODE_TO)}")
    if jobs < 1:
        raise InrError(f"jobs must be at least 1, got {jobs}")
    if dst.exists() and not dst.is_dir():
        raise InrError(f"{dst} is not a folder")
    threads = threads or (1 if ray else threads_per_worker(jobs))
    if ray:
        runner = _Ray(ray, options.get("device", "auto"), threads)
    else:
        runner = _InProcess(threads) if jobs == 1 else _Processes(jobs, threads)
    try:
        return _run(src, dst, decode_to, options, runner, force, progress)
    finally:
        runner.close()


def _run(src: Path, dst: Path, decode_to, options: dict, runner, force: bool, progress) -> dict:
    dst.mkdir(parents=True, exist_ok=True)
    manifest = dst / MANIFEST
    _remove_temporaries(manifest)
    todo, current, clashes = plan(src, dst, decode_to, force)
    for job in todo:
        (dst / job.output).parent.mkdir(parents=True, exist_ok=True)
        _remove_temporaries(dst / job.output)

    total, done, failures, converted = len(todo) + len(clashes), 0, [], 0
    log = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def finish(record: dict):
        nonlocal done, converted
        os.write(log, (json.dumps(record) + "\n").encode("utf-8"))  # one append: a whole line or none
        done += 1
        if record["status"] == "failed":
            failures.append(record)
        else:
            converted += 1
        if progress:
            progress(done, total, record)

    start = time.perf_counter()
    try:
        if progress:
            progress(0, total, None)
        for job, error in clashes:
            finish(_record(job, src, dst, "failed", None, error))
        queue, running = iter(todo), {}
        while True:
            while len(running) < runner.capacity and (job := next(queue, None)) is not None:
                try:
                    running[runner.submit(job, src, dst, decode_to, options)] = (job, time.perf_counter())
                except InrError as e:  # the source vanished or cannot be read
                    finish(_record(job, src, dst, "failed", None, str(e)))
            if not running:
                break
            for handle in runner.wait(running):
                job, began = running.pop(handle)
                result, error = runner.outcome(handle, job, dst)
                status = "failed" if result is None else "ok"
                finish(_record(job, src, dst, status, result, error, time.perf_counter() - began))
    finally:
        os.close(log)
        _compact(manifest, [_record(job, src, dst, "skipped", None, None) for job in current])
    return {
        "source": str(src), "destination": str(dst), "manifest": str(manifest),
        "files": total + len(current), "converted": converted, "skipped": len(current), "failed": len(failures),
        "failures": [{"source": r["source"], "error": r["error"]} for r in failures],
        "seconds": round(time.perf_counter() - start, 3),
    }
