"""The one writer: every file the tool writes (results, maps, reports, baselines, resume
rewrites) goes through this module.

What it guarantees, whatever the caller:

* ``-`` means standard output, wherever a file is taken.
* A target that exists and is not a regular file (a FIFO, a character device such as
  ``/dev/null``, ``/dev/stdout``) is opened and written, never replaced: renaming over it would
  turn ``/dev/null`` into a regular file for the whole machine when run as root.
* A regular file is written to a temporary file in the target's folder and renamed over the
  target, so a reader sees the old file or the new one. The temporary file is removed on any
  failure, and its name (``.<name>.ssim-l1-tmp-<pid>-<random>``) lets a later run remove one left
  by a process that was killed (`remove_stale_temps`).
* Parents are created; the new file gets the usual mode (0666 less the umask: 0644 under 022),
  or keeps the mode of the file it replaces.
* Every failure is one `OutputError` naming the file (``No space left on device`` included).
* `lock_output` holds an exclusive lock on an output for the run, so two runs writing the same
  file do not silently interleave or lose rows: the second exits 2 at once.

Why one module of this size: being the only writer is the point; splitting it would make a
second place that opens files for writing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssimcli.errors import OutputError

#: Anything with the buffer protocol (``collections.abc.Buffer`` from Python 3.12 on).
Buffer = Any

STDOUT = "-"
TEMP_MARK = ".ssim-l1-tmp-"

PathLike = str | os.PathLike[str]


def is_stdout(path: PathLike | None) -> bool:
    return path is not None and os.fspath(path) == STDOUT


def default_mode() -> int:
    """0666 less the process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _problem(exc: OSError) -> str:
    return f"cannot write ({exc.strerror or exc})"


def _special(path: Path) -> bool:
    """An existing target that must be written in place: anything but a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISDIR(mode):
        raise OutputError(path, "is a directory")
    return not stat.S_ISREG(mode)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` (``-``: stdout) with the guarantees of this module."""
    write_buffers(path, (data,))


def write_buffers(path: PathLike, parts: Sequence[Buffer]) -> None:
    """`write_bytes` of the concatenation of ``parts`` (bytes, memoryviews, C-contiguous
    arrays), without making it: a 100 MB map goes to the file straight from its array."""
    if is_stdout(path):
        _write_stdout(parts)
        return
    target = Path(path)
    if _special(target):
        _write_in_place(target, parts)
        return
    _replace_atomically(target, lambda handle: _write_all(handle, parts))


def _write_all(handle: Any, parts: Sequence[Buffer]) -> None:
    for part in parts:
        handle.write(part)


class PositionalFile:
    """A new regular file written piece by piece at given offsets, then put in place.

    For outputs computed in parts that finish in any order, from several threads (the raw
    ``.npy`` maps, strip by strip): `write_at` is one ``pwrite`` loop, so no part is ever
    gathered or copied in this process. The file is a temporary one beside ``path`` until
    `commit` renames it over ``path`` (the guarantees of `write_bytes`); `discard`, or a
    `commit` that never comes, removes it. Only for a ``path`` that `can_place` (not ``-``,
    not an existing FIFO or device, which cannot be written out of order).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._tmp: Path | None = _temp_path(self.path)
        self._fd: int | None = None
        try:
            self._mode = os.stat(self.path).st_mode & 0o7777
        except OSError:
            self._mode = default_mode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            self.discard()
            raise OutputError(self.path, _problem(exc)) from None

    @property
    def committed(self) -> bool:
        return self._tmp is None

    def write_at(self, offset: int, data: Buffer) -> None:
        if self._fd is None:
            raise OutputError(self.path, "cannot write (already committed or discarded)")
        view = memoryview(data).cast("B")
        try:
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            raise OutputError(self.path, _problem(exc)) from None

    def commit(self) -> None:
        if self._tmp is None:
            return
        try:
            self._close()
            os.chmod(self._tmp, self._mode)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(self.path, _problem(exc)) from None
        self._tmp = None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._close()
        if self._tmp is not None:
            _discard(self._tmp)
            self._tmp = None

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def can_place(path: PathLike) -> bool:
    """Whether ``path`` can be a `PositionalFile` (not stdout, not a FIFO or a device)."""
    return not is_stdout(path) and not _special(Path(path))


def write_text(path: PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8", "surrogateescape"))


def copy_file(source: PathLike, target: PathLike) -> None:
    """Copy ``source`` over ``target`` atomically, keeping ``target``'s mode when it exists.

    The source is only read, and only when it is a regular file (never a FIFO or a device).
    """
    import shutil

    source_path = Path(source)
    try:
        if not stat.S_ISREG(os.stat(source_path).st_mode):
            raise OutputError(source_path, "not a regular file: refusing to copy it")
        with open(source_path, "rb") as src:
            _replace_atomically(Path(target), lambda out: shutil.copyfileobj(src, out))
    except OSError as exc:
        raise OutputError(source_path, f"cannot read ({exc.strerror or exc})") from None


def _replace_atomically(target: Path, fill: object) -> None:
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = default_mode()
    tmp = _temp_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fill(handle)  # type: ignore[operator]
            handle.flush()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise OutputError(target, _problem(exc)) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_in_place(target: Path, parts: Sequence[Buffer]) -> None:
    try:
        # O_NONBLOCK: a FIFO with no reader must not hang the run (ENXIO instead).
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OutputError(target, "is a FIFO with no reader") from None
        raise OutputError(target, _problem(exc)) from None
    try:
        os.set_blocking(fd, True)
        for part in parts:
            view = memoryview(part).cast("B")
            while view:
                view = view[os.write(fd, view):]
    except OSError as exc:
        raise OutputError(target, _problem(exc)) from None
    finally:
        os.close(fd)


def _write_stdout(parts: Sequence[Buffer]) -> None:
    try:
        sys.stdout.flush()
        _write_all(sys.stdout.buffer, parts)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError("<stdout>", _problem(exc)) from None


def remove_stale_temps(folder: PathLike) -> list[Path]:
    """Remove temporary files that a killed run of this tool left in ``folder``.

    Only names this module makes (``.<name>.ssim-l1-tmp-<pid>-<hex>``) whose process is gone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if TEMP_MARK not in entry.name or not entry.name.startswith("."):
            continue
        pid_text = entry.name.rsplit(TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- streams and locks ----------------------------------------------------------------------

class Stream:
    """A text output written as it goes (streamed CSV/JSONL rows), flushed after each write.

    Opened for appending or truncation; a special file is opened in place. Each `write` is one
    ``write(2)`` of whole rows, so a file cut short by a full disk stays valid up to its last
    complete row; a failed write truncates the partial row away when it can.
    """

    def __init__(self, path: PathLike | None, *, append: bool = False) -> None:
        self.path = None if path is None or is_stdout(path) else Path(path)
        self._fd: int | None = None
        if self.path is None:
            return
        special = _special(self.path)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append or special else os.O_TRUNC)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, flags | (os.O_NONBLOCK if special else 0), default_mode())
            if special:
                os.set_blocking(self._fd, True)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OutputError(self.path, "is a FIFO with no reader") from None
            raise OutputError(self.path, _problem(exc)) from None

    @property
    def name(self) -> str:
        return STDOUT if self.path is None else str(self.path)

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        if self._fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        start = _position(self._fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            if start is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)
            raise OutputError(self.name, _problem(exc)) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        else:
            with contextlib.suppress(BrokenPipeError):
                sys.stdout.flush()


def _position(fd: int) -> int | None:
    try:
        return os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None


def open_stream(path: PathLike | None, *, append: bool = False) -> Stream:
    return Stream(path, append=append)


class OutputLock:
    """An exclusive, non-blocking lock on one output path for the life of the run.

    The lock lives on a small file in the system's temporary folder named after the output's
    absolute path, not on the output itself: the output is replaced by a rename, which would
    leave a lock on the old file, and a lock file beside it would litter the user's folder.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        # Imported here: hashlib and tempfile cost ~8 ms at start-up, and most runs lock nothing.
        import hashlib
        import tempfile

        key = hashlib.sha256(os.fsencode(os.path.abspath(self.path))).hexdigest()[:32]
        folder = Path(tempfile.gettempdir(), "ssim-l1-locks")
        self._fd: int | None = None
        try:
            folder.mkdir(mode=0o1777, exist_ok=True)
            self._fd = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return  # no lock possible (read-only /tmp): the run goes on unlocked
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise OutputError(self.path, "another ssim-l1 run is writing this file; "
                                         "wait for it or choose another output") from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_held: list[OutputLock] = []


def lock_output(path: PathLike | None) -> None:
    """Lock ``path`` until the process exits (``-``, ``None`` and special files need none)."""
    if path is None or is_stdout(path) or _special(Path(path)):
        return
    _held.append(OutputLock(path))
