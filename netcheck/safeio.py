"""Files netcheck reads and writes as root on production nodes.

- `read_limited` / `read_optional`: THE reader for every file netcheck reads because a file, a flag,
  the environment or the network named it (profiles, NodeConfigs, VPC exports, token files,
  resolv.conf, hosts, chrony/timesyncd, sysctl.d, kubelet and CNI files under NETCHECK_HOST_ROOT,
  history reports): at most N bytes, from a regular file only (never /dev/zero, a FIFO or a
  terminal: those would exhaust memory or hang), and never past the run's deadline (`set_deadline`).
  tests/test_safeio_readers.py fails when a module under netcheck/ or probes/ reads a file another way.
- `check_output` / `OutputTarget`: the `-o` target, checked before any probe runs. A regular
  file (or a new one) is replaced atomically through a new temporary file in its directory
  (whose descriptor is held from the check to the write: openat/renameat, so a directory
  swapped for a symlink during the run cannot redirect the report), keeping
  the mode (and, as root, the owner) of the file it replaces. A character device (/dev/null) or
  a FIFO is written in place, like a shell redirect, and so are /dev/stdout, /dev/stderr and
  /dev/fd/N (this process's own descriptors). Any other symlink is refused, never followed and
  never replaced; so are directories, block devices and sockets.
- `check_token` / `read_token_file`: the shared responder token, bounded in length and characters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import select
import stat
import time
from dataclasses import dataclass
from pathlib import Path

TOKEN_MAX_CHARS = 512
TOKEN_FILE_MAX_BYTES = 4096


class FileProblem(Exception):
    """A file netcheck cannot use; the text names the path and the problem."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        return "a parent of it is a file, not a directory"
    return exc.strerror or str(exc)


# --- reading ---------------------------------------------------------------------------

_deadline: list[float] = []  # monotonic instant after which no file is read any more (--deadline)
CHUNK = 1 << 16


def set_deadline(at: float | None) -> None:
    """From now on, reads stop (FileProblem) once time.monotonic() passes `at`; None lifts the bound."""
    _deadline[:] = [] if at is None else [at]


def deadline() -> float | None:
    """The instant set by set_deadline, if any (the YAML loader checks it while composing)."""
    return _deadline[0] if _deadline else None


def _past(path: Path, what: str, at: float | None) -> None:
    if at is not None and time.monotonic() > at:
        raise FileProblem(f"{path}: not read: the run's --deadline passed before the {what} was read")


def read_limited(path: Path, limit: int, what: str = "file", *, until: float | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; FileProblem otherwise.

    Opened non-blocking, so a FIFO without a writer cannot hang the open; symlinks to a
    regular file are fine (Kubernetes secret volumes are built from them). Between chunks the
    deadline (`until`, else the one set by set_deadline) is checked, so a slow filesystem
    cannot keep the run past --deadline by more than one chunk's read.
    """
    at = until if until is not None else deadline()
    _past(path, what, at)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileProblem(f"{path}: file not found") from None
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read ({_why(exc)})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(f"{path}: is {_kind(st.st_mode)}; netcheck reads its {what} only from a regular file")
        if st.st_size > limit:
            raise FileProblem(f"{path}: is {st.st_size} bytes; a {what} larger than {limit} bytes is not plausible")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the size can change under us: never read more than limit + 1
            _past(path, what, at)
            chunk = os.read(fd, min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileProblem(f"{path}: is more than {limit} bytes; a {what} that large is not plausible")
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read ({_why(exc)})") from None
    finally:
        os.close(fd)


def read_optional(path: Path, limit: int, what: str = "file") -> str | None:
    """The UTF-8 text (undecodable bytes replaced) of an optional file, read as `read_limited` reads;
    None when it is absent, unreadable, not a regular file, larger than `limit` or the deadline passed.

    For host files whose absence is itself the answer (resolv.conf, kubelet files, sysctl.d):
    a FIFO or a device planted there counts as "not there", never as a hang.
    """
    try:
        return read_limited(path, limit, what).decode("utf-8", "replace")
    except FileProblem:
        return None


# --- the shared token ------------------------------------------------------------------

def check_token(token: str, source: str) -> str:
    """The token if it is 1..TOKEN_MAX_CHARS printable ASCII characters without spaces."""
    if not token:
        raise FileProblem(f"{source}: the token is empty")
    if len(token) > TOKEN_MAX_CHARS:
        raise FileProblem(f"{source}: the token is {len(token)} characters long; at most {TOKEN_MAX_CHARS} are "
                          "accepted (e.g. `openssl rand -hex 24` gives 48)")
    for i, ch in enumerate(token):
        if not "!" <= ch <= "~":
            raise FileProblem(f"{source}: the token has {_char_name(ch)} at position {i + 1}; use printable ASCII "
                              "without spaces (e.g. `openssl rand -hex 24`)")
    return token


def _char_name(ch: str) -> str:
    if ch == "\x00":
        return "a NUL byte"
    if ch.isspace():
        return "a space or line break"
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"a control character (0x{ord(ch):02x})"
    return f"a non-ASCII character (U+{ord(ch):04X})"


def read_token_file(path: Path) -> str:
    """The token in FILE: one line, surrounding whitespace and the final newline ignored."""
    try:
        raw = read_limited(path, TOKEN_FILE_MAX_BYTES, "token file")
    except FileProblem as exc:
        raise FileProblem(f"{path}: cannot read the token: {str(exc).removeprefix(f'{path}: ')}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"{path}: the token file is not UTF-8 text") from None
    token = text.strip()
    if not token:
        raise FileProblem(f"{path}: the token file is empty")
    return check_token(token, str(path))


def token_file_warning(path: Path) -> str | None:
    """A warning when the token file may be read or changed by users other than its owner (as ssh
    warns about a private key): group or other permission bits set. None when it is private."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (f"WARNING: the token file {path} has mode {mode:04o}: other users on this host can read the shared "
            f"token; make it private with `chmod 600 {path}` (Kubernetes: defaultMode: 0400 on the secret volume)")


# --- writing ---------------------------------------------------------------------------

def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _open_parent(path: Path, directory: Path) -> int:
    """An O_PATH descriptor of `directory`, held from the pre-flight check to the write: every later
    step is relative to it (openat, renameat), so swapping the directory for a symlink meanwhile
    cannot send the report anywhere else."""
    try:
        return os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise FileProblem(f"{path}: cannot open the directory {directory} ({_why(exc)})") from None


def _create_at(dir_fd: int, stem: str) -> tuple[int, str]:
    """A new file `.STEM.RANDOM.tmp`-like name in the held directory: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600."""
    for _ in range(100):
        name = f"{stem}{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
        except FileExistsError:
            continue
        return fd, name
    raise OSError(errno.EEXIST, "no free temporary name")


def _probe_dir(path: Path, directory: Path, dir_fd: int) -> None:
    """Prove we can create a file in `directory` (read-only fs, permissions) by making and removing one."""
    try:
        fd, name = _create_at(dir_fd, ".netcheck-probe-")
    except OSError as exc:
        raise FileProblem(f"{path}: cannot create a file in {directory} ({_why(exc)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _write_all(fd: int, data: bytes, timeout: float) -> None:
    """Write every byte to a (possibly non-blocking) descriptor within `timeout` seconds."""
    end = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            n = 0
        if n:
            view = view[n:]
            continue
        left = end - time.monotonic()
        if left <= 0:
            raise OSError(errno.ETIMEDOUT, f"the reader took more than {timeout:.1f} s to take the report")
        select.select([], [fd], [], left)


def write_atomic(path: Path, text: str, dir_fd: int | None = None) -> None:
    """Replace or create the regular file `path` atomically (textfile collectors read it concurrently).

    Everything happens relative to a descriptor of the parent directory (`dir_fd`, held by the
    caller since its pre-flight check, else opened here): the temporary file is created there with
    O_CREAT|O_EXCL|O_NOFOLLOW under a random name, so nothing planted beside the target can redirect
    the write, and renamed over the target with renameat. An existing file keeps its mode and, when
    we may, its owner; a new one gets 0666 minus the umask, as a shell redirect would. Never follows or
    replaces a symlink. Raises OSError; the temporary file never outlives a failure.
    """
    own = dir_fd is None
    dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if dir_fd is None else dir_fd
    try:
        _write_at(dfd, path.name, text)
    finally:
        if own:
            os.close(dfd)


def _write_at(dfd: int, name: str, text: str) -> None:
    try:
        st: os.stat_result | None = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EEXIST, f"it is now {_kind(st.st_mode)}, not a regular file")
    fd, tmp = _create_at(dfd, f".{name[:100]}.")
    try:
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask())
            if st is not None and os.geteuid() == 0:
                with contextlib.suppress(OSError):
                    os.fchown(fd, st.st_uid, st.st_gid)
            _write_all(fd, text.encode("utf-8"), 60.0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise


@dataclass
class OutputTarget:
    """A checked `-o` target. `fd` is held open from the check on for a device or a FIFO (a shell
    redirect opens it before the command starts, too), so a FIFO's reader is known to be there."""

    path: Path
    kind: str  # file | device | fifo
    fd: int | None = None
    dir_fd: int | None = None  # a file: its parent directory, held (O_PATH) from the check to the write

    def write(self, text: str, timeout: float) -> None:
        """Write the whole report; FileProblem naming the path and the reason if that fails."""
        try:
            if self.fd is None:
                write_atomic(self.path, text, self.dir_fd)
            else:
                _write_all(self.fd, text.encode("utf-8"), timeout)
        except OSError as exc:
            raise FileProblem(f"{self.path}: could not write the report ({_why(exc)})") from None
        finally:
            self.close()

    def close(self) -> None:
        for fd in (self.fd, self.dir_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.dir_fd = None


_OWN_FD = re.compile(r"^/(?:dev|proc/self)/fd/(\d+)$")


def _own_descriptor(path: Path) -> int | None:
    """/dev/stdout, /dev/stderr, /dev/fd/N: symlinks to this process's own descriptors, used in place."""
    text = str(path)
    if text in ("/dev/stdout", "/dev/stderr"):
        return 1 if text == "/dev/stdout" else 2
    m = _OWN_FD.match(text)
    return int(m.group(1)) if m else None


def _file_target(path: Path) -> OutputTarget:
    dir_fd = _open_parent(path, path.parent)
    try:
        _probe_dir(path, path.parent, dir_fd)
    except BaseException:
        os.close(dir_fd)
        raise
    return OutputTarget(path, "file", dir_fd=dir_fd)


def check_output(path: Path) -> OutputTarget:
    """Check the `-o` target before the run; FileProblem (a usage error) when it cannot be written."""
    own = _own_descriptor(path)
    if own is not None:
        try:
            return OutputTarget(path, "device", os.dup(own))
        except OSError as exc:
            raise FileProblem(f"{path}: descriptor {own} is not open ({_why(exc)})") from None
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise FileProblem(f"{path}: {_why(exc)}") from None
    if st is None:
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise FileProblem(f"{path}: cannot create the directory {parent}: a parent is a file") from None
        except OSError as exc:
            raise FileProblem(f"{path}: cannot create the directory {parent} ({_why(exc)})") from None
        return _file_target(path)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return _file_target(path)
    if stat.S_ISLNK(mode):
        try:
            to = os.readlink(path)
        except OSError:
            to = "?"
        raise FileProblem(f"{path}: is a symbolic link (to {to}); netcheck neither writes through nor replaces a "
                          "symlink: give the path it points to, or remove the link")
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        fifo = stat.S_ISFIFO(mode)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if fifo and exc.errno == errno.ENXIO:
                raise FileProblem(f"{path}: is a FIFO with no reader; start the reader first") from None
            raise FileProblem(f"{path}: cannot open {_kind(mode)} for writing ({_why(exc)})") from None
        kind = _kind(os.fstat(fd).st_mode)
        if kind != _kind(mode):  # swapped between lstat and open
            os.close(fd)
            raise FileProblem(f"{path}: changed while it was being opened; try again")
        return OutputTarget(path, "fifo" if fifo else "device", fd)
    raise FileProblem(f"{path}: is {_kind(mode)}; netcheck writes its report to a regular file, a character "
                      "device such as /dev/null, or a FIFO")
