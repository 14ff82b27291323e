"""Every file gpupack writes or reads goes through here, so that the same rules hold everywhere.

Writing:

* An output appears whole or not at all: the bytes go to a temporary sibling
  (``.gpupack-PID-TOKEN.tmp``), are flushed to disk (fsync) and renamed over the output.
* It gets mode 0666 minus the umask (0644 usually), like any file the user makes.
* A failure is one line, ``cannot write PATH (reason)`` (an ``OutputError``): exit 2 for a path that
  cannot be written (not a directory, no permission, name too long), exit 1 for a disk that fails
  (full, I/O error).
* An output several runs could share is held under an exclusive lock (``exclusive``); an output is
  never an input file nor inside an input directory (``refuse_overlap``); a copied tree never
  follows a symlink out of its source (``copy_tree``).
* Temporary files and directories carry gpupack's prefix and the pid that made them; the next run
  removes those whose process is gone (a run killed with SIGKILL cannot clean up after itself).

Reading (``read_text``): a regular file of UTF-8 text, or one line naming the file and what it is
instead (missing, a directory, a FIFO, a device, not UTF-8, too large). Nothing is opened before
its type is known, so a FIFO never blocks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from profiler.base.errors import EXIT_RUNTIME, InputError, OutputError

PREFIX = "gpupack"
# A temporary file beside an output: ".gpupack-PID-TOKEN.tmp" (short, so that it fits wherever the
# output's own name fits).
_TEMP_FILE = re.compile(rf"^\.{PREFIX}-(\d+)-[0-9a-f]+\.tmp$")
# A temporary directory of ours: "gpupack-LABEL-PID-XXXXXXXX" (tempfile.mkdtemp's suffix).
_TEMP_DIR = re.compile(rf"^{PREFIX}-[a-z]+-(\d+)-[A-Za-z0-9_]+$")
# Linux's largest pid_max (2^22): a larger number in a name is no pid of ours.
_PID_MAX = 1 << 22
# Disk failures are runtime failures (exit 1); every other reason not to write is the path's (exit 2).
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
# Linux's PATH_MAX and NAME_MAX, in bytes.
_PATH_MAX = 4096
_NAME_MAX = 255
# The holder of a lock writes its pid within microseconds of locking: poll up to 0.5 s for it.
_HOLDER_POLLS = 10
_HOLDER_POLL_S = 0.05
# Profiles, targets and fleets are kilobytes to megabytes; refuse a file that would fill memory.
MAX_INPUT_BYTES = 256 * 1024 * 1024
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def cannot_write(path: Path, exc: OSError) -> OutputError:
    """``cannot write PATH (reason)``, exit 1 for a failing disk and 2 for a path that can't be."""
    reason = exc.strerror or str(exc)
    if exc.errno in _DISK_ERRORS:
        return OutputError(f"cannot write {path} ({reason})", "free space, then run again", EXIT_RUNTIME)
    return OutputError(f"cannot write {path} ({reason})", "choose another output path")


def ensure_directory(path: Path) -> Path:
    """Create ``path`` (and its parents) unless it is a directory already.

    Raises:
        OutputError: it exists and is not a directory, or cannot be created.

    """
    _check_length(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write {path} (exists and is not a directory)") from None
    except OSError as exc:
        raise cannot_write(path, exc) from None
    return path


def _check_length(path: Path) -> None:
    """Refuse a path Linux can't hold before creating any folder of it."""
    raw = os.fsencode(os.path.abspath(path))
    if len(raw) >= _PATH_MAX or any(len(part) > _NAME_MAX for part in raw.split(b"/")):
        raise OutputError(f"cannot write {path} (File name too long)", "choose a shorter output path")


def _ensure_parent(path: Path) -> None:
    """The folder ``path`` goes in, created if needed; errors name ``path`` itself."""
    _check_length(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write {path} (a parent is not a directory)") from None
    except OSError as exc:
        raise cannot_write(path, exc) from None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` as described in the module docstring.

    Raises:
        GpupackError: ``cannot write PATH (reason)``; the old file, if any, is untouched.

    """
    path = Path(path)
    _ensure_parent(path)
    clean_stale_files(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.parent / f".{PREFIX}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with open(fd, "wb", closefd=True) as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError as exc:
        raise cannot_write(path, exc) from None
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; some file systems can't fsync a directory, which is no failure."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_gone(pid: int) -> bool:
    """True only when no process ``pid`` exists (one of another user's still counts as alive)."""
    if not 0 < pid < _PID_MAX or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _stale(entry: os.DirEntry[str], pattern: re.Pattern[str], directory: bool) -> bool:
    match = pattern.match(entry.name)
    if match is None:
        return False
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    return kind_ok and info.st_uid == os.getuid() and _pid_gone(int(match.group(1)))


def clean_stale_files(directory: Path) -> None:
    """Remove our temporary files in ``directory`` whose writing process is gone."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if _stale(entry, _TEMP_FILE, directory=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def clean_stale_dirs(parent: Path | None = None) -> list[Path]:
    """Remove our temporary directories in ``parent`` (default: the temp dir) whose process is gone."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            if _stale(entry, _TEMP_DIR, directory=True):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def temp_dir(label: str, parent: Path | None = None) -> Path:
    """A new private directory ``gpupack-LABEL-PID-XXXXXXXX`` in ``parent`` (default: the temp dir).

    Stale ones of ours in ``parent`` go first.

    Raises:
        OutputError: ``parent`` is not writable (or full).

    """
    if not re.fullmatch(r"[a-z]+", label):
        raise ValueError(f"a temp dir label is lowercase letters, got {label!r}")
    where = Path(parent or tempfile.gettempdir())
    clean_stale_dirs(where)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{label}-{os.getpid()}-", dir=where))
    except OSError as exc:
        raise cannot_write(where, exc) from None


def lock_path(path: Path) -> Path:
    """The lock file of an output: a sibling, so that it works for a file and a directory alike."""
    return path.parent / f".{path.name}.{PREFIX}-lock"


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` (an output) for this run; another run asking for it is refused at once.

    The lock is ``flock`` on a sibling lock file holding our pid, released by the kernel even if we
    are killed, and removed when we are done (after checking it is still the file we locked, so
    that two runs racing to create it can't both win).

    Raises:
        InputError: ``PATH is being written by another gpupack run (pid N)``, or the lock file can't be made.

    """
    path = Path(path)
    _ensure_parent(path)
    lock = lock_path(path)
    fd = _acquire(path, lock)
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full or read-only disk: the lock is ours, but says nothing
            raise cannot_write(path, exc) from None
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def _acquire(path: Path, lock: Path) -> int:
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise cannot_write(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(
                f"{path} is being written by another gpupack run (pid {holder})",
                "wait for it to finish, or choose another output",
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed it between our open and our lock: take the new one


def _holder(fd: int) -> str:
    """The pid in a lock file; its holder writes it right after locking, so wait a moment for it."""
    for _ in range(_HOLDER_POLLS):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text:
            return text
        time.sleep(_HOLDER_POLL_S)
    return "unknown"


def refuse_overlap(output: Path, inputs: Mapping[str, Path | None], option: str = "--output") -> None:
    """Refuse an output that is one of the inputs, or lies inside an input directory.

    ``inputs`` maps each input's option name to its path (None: not given).

    Raises:
        InputError: naming both options.

    """
    target = Path(os.path.realpath(output))
    for name, source in inputs.items():
        if source is None:
            continue
        real = Path(os.path.realpath(source))
        if target == real:
            raise InputError(f"{option} {output} is {name} {source}: gpupack never writes over its inputs")
        if real.is_dir() and real in target.parents:
            raise InputError(
                f"{option} {output} is inside {name} {source}: gpupack never writes into its inputs",
                f"choose an {option} outside {source}",
            )


def copy_tree(source: Path, target: Path) -> None:
    """Copy the directory ``source`` to ``target`` (new), symlinks as links.

    A symlink that leads out of ``source`` is refused rather than copied: the copy would reach
    files the source does not hold.

    Raises:
        InputError: a symlink points out of ``source``, or ``source`` can't be read.
        GpupackError: ``target`` can't be written.

    """
    root = Path(os.path.realpath(source))
    for folder, dirs, files in os.walk(source):
        for name in (*dirs, *files):
            link = Path(folder) / name
            if link.is_symlink():
                real = Path(os.path.realpath(link))
                if real != root and root not in real.parents:
                    raise InputError(
                        f"{link}: a symlink out of {source} (to {real}); gpupack copies no such link"
                    )
    try:
        shutil.copytree(source, target, symlinks=True)
    except shutil.Error as exc:
        failures = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        reason = failures[0][2] if failures else str(exc)
        disk = next((e for e in _DISK_ERRORS | {errno.EROFS} if os.strerror(e) in reason), None)
        if disk is not None:  # copytree keeps only the message: the disk, not the source, failed
            raise cannot_write(target, OSError(disk, os.strerror(disk))) from None
        raise InputError(f"cannot copy {source} to {target} ({reason})") from None
    except OSError as exc:
        raise cannot_write(target, exc) from None


def read_text(path: Path, what: str = "") -> str:
    """The UTF-8 text of the regular file ``path`` (a BOM is dropped).

    ``what`` names the file's role in messages, e.g. ``--targets``.

    Raises:
        InputError: one line naming the file: missing, not a regular file, too large, unreadable,
            not UTF-8.

    """
    label = f"{what} {path}" if what else str(path)
    data = _read_bytes(Path(path), label)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{label}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "save it as UTF-8",
        ) from None


def _read_bytes(path: Path, label: str) -> bytes:
    try:
        info = os.stat(path)
        _check_regular(info, label)
        with open(path, "rb") as handle:
            _check_regular(os.fstat(handle.fileno()), label)  # replaced since the stat: check again
            data = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except NotADirectoryError:
        raise InputError(f"{label}: no such file (a parent is not a directory)") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise InputError(f"{label}: cannot read ({exc})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"{label}: larger than {MAX_INPUT_BYTES // 2**20} MiB, too large for a gpupack input"
        )
    return data


def _check_regular(info: os.stat_result, label: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InputError(f"{label}: is {kind}, expected a regular file")
