"""Every file npylstm writes is written atomically (:mod:`npylstm.io.atomic`).

The helper itself, then each writer through its real entry point (the ``npylstm`` command:
``convert`` to ``.npz`` / ``.pt`` / ``.json``, ``predict`` to ``.npy`` / ``.csv``, ``gates
--plot``, the demo's PNGs; the model and weights savers): a failure in the middle of a write
leaves no file under the final name and no temporary file, an existing target intact; a new
file gets ``0o666 & ~umask`` as ``open()`` gives it, an existing file keeps its mode; errors
name the user's path. The expected modes are computed by hand from the umask set in the
test; "intact" is a byte comparison with the file before the write; ``kill -9`` is a real
SIGKILL sent to a child process in the middle of a large write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import npylstm
from npylstm import cli
from npylstm.io import atomic
from npylstm.io.atomic import atomic_open, atomic_write, current_umask
from npylstm.io.model_file import KerasFileError

REPO = Path(__file__).resolve().parent.parent
NOBODY = 65534


@contextlib.contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- the helper ------------------------------------------------------------------------------


def _half_then(exc: BaseException):
    def write(tmp: Path) -> None:
        tmp.write_bytes(b"half a file")
        raise exc

    return write


@pytest.mark.parametrize(
    "exc", [RuntimeError("boom"), KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left")],
    ids=["RuntimeError", "KeyboardInterrupt", "ENOSPC"],
)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_exception_mid_write_leaves_old_file_or_nothing(tmp_path, exc, existing):
    target = tmp_path / "model.keras"
    if existing:
        target.write_bytes(b"the old file")
    with pytest.raises(type(exc)):
        atomic_write(target, _half_then(exc))
    assert listing(tmp_path) == (["model.keras"] if existing else [])
    if existing:
        assert target.read_bytes() == b"the old file"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_atomic_open_exception_in_block(tmp_path, existing):
    target = tmp_path / "y.npy"
    if existing:
        target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as handle:
        handle.write(b"x" * 100_000)
        raise KeyboardInterrupt
    assert listing(tmp_path) == (["y.npy"] if existing else [])
    if existing:
        assert target.read_bytes() == b"old"


def test_write_and_open_succeed(tmp_path):
    target = tmp_path / "notes.txt"
    assert atomic_write(target, lambda tmp: tmp.write_text("one")) == target
    assert target.read_text() == "one"
    with atomic_open(target, "w") as handle:
        handle.write("two é")
    assert target.read_text(encoding="utf-8") == "two é"
    assert listing(tmp_path) == ["notes.txt"]


def test_disk_full_names_the_path_and_cause(tmp_path):
    target = tmp_path / "weights.npz"
    seen = []

    def full(tmp: Path) -> None:
        seen.append(tmp)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    with pytest.raises(OSError) as info:
        atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert f"Cannot write '{target}'" in message and "No space left on device" in message
    assert str(seen[0]) not in message and ".tmp" not in message
    assert listing(tmp_path) == []


def test_an_error_naming_the_temporary_file_names_the_target(tmp_path):
    target = tmp_path / "model.h5"

    def fails(tmp: Path) -> None:
        raise OSError(f"Unable to create file (name = '{tmp}', errno = 28)")

    with pytest.raises(OSError, match=re.escape(f"name = '{target}'")) as info:
        atomic_write(target, fails)
    assert ".tmp" not in str(info.value)


@pytest.mark.parametrize("value", [0o022, 0o077, 0o002])
def test_new_file_mode_follows_the_umask(tmp_path, value):
    with umask(value):
        assert current_umask() == value
        a = atomic_write(tmp_path / "a.bin", lambda tmp: tmp.write_bytes(b"a"))
        with atomic_open(tmp_path / "b.bin") as handle:
            handle.write(b"b")
        with open(tmp_path / "plain.bin", "wb") as handle:  # what open() gives, for reference
            handle.write(b"c")
    assert mode(a) == mode(tmp_path / "b.bin") == 0o666 & ~value
    assert mode(a) == mode(tmp_path / "plain.bin")


def test_umask_read_without_proc(monkeypatch):
    """Where /proc/self/status is missing, the umask is read by setting and restoring it."""

    def no_proc(*args, **kwargs):
        raise FileNotFoundError("no /proc here")

    monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    with umask(0o027):
        assert current_umask() == 0o027
        assert current_umask() == 0o027  # restored after the read
    with umask(0o002):
        assert current_umask() == 0o002


@pytest.mark.parametrize(("old_mode", "value"), [(0o644, 0o077), (0o600, 0o022),
                                                  (0o640, 0o002)])
def test_existing_file_keeps_its_mode(tmp_path, old_mode, value):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    target.chmod(old_mode)
    with umask(value):
        atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and mode(target) == old_mode


def test_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.keras"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.keras"
    link.symlink_to(real)
    atomic_write(link, lambda tmp: tmp.write_bytes(b"new"))
    assert link.is_symlink() and real.read_bytes() == b"new" and mode(real) == 0o640
    assert listing(tmp_path) == ["link.keras", "real.keras"]


def test_missing_directory_directory_and_non_regular_targets(tmp_path):
    missing = tmp_path / "no" / "y.npy"
    with pytest.raises(FileNotFoundError,
                       match=re.escape(f"Cannot write '{missing}': the directory")):
        atomic_write(missing, lambda tmp: None)
    with pytest.raises(KerasFileError, match="is a directory; expected a file path"):
        atomic_write(tmp_path, lambda tmp: None)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(KerasFileError, match=r"'.*pipe' is not a regular file"):
        atomic_write(fifo, lambda tmp: None)
    assert listing(tmp_path) == ["pipe"]
    with pytest.raises(ValueError, match="expected mode 'wb' or 'w', received 'ab'"):
        with atomic_open(tmp_path / "x", "ab"):
            pass
    with pytest.raises(ValueError, match="encoding and newline are for text mode"):
        with atomic_open(tmp_path / "x", encoding="utf-8"):
            pass


def test_unwritable_directory_names_the_target(tmp_path, monkeypatch):
    """The temporary file cannot be created: the error is about the user's path (simulated,
    so it runs as root too; the real read-only directory is the next test)."""
    target = tmp_path / "y.npy"

    def denied(prefix, suffix, dir):
        name = os.path.join(dir, f"{prefix}abc{suffix}")
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError) as info:
        atomic_write(target, lambda tmp: None)
    message = str(info.value)
    assert message.startswith(f"Cannot write '{target}': Permission denied (the directory")
    assert ".tmp" not in message and info.value.errno == errno.EACCES


#: The child of :func:`_write_as`: one atomic write, after dropping to the user given (an
#: unprivileged one, for good, once the interpreter and npylstm are loaded); exit 3 with the
#: message on a refusal.
_WRITE_CHILD = """
import encodings.ascii, os, sys  # the codec the writer's umask read needs, loaded while the
from pathlib import Path          # interpreter's files (in root's home here) are readable
from npylstm.io.atomic import atomic_write
if sys.argv[2] != "-":
    user = int(sys.argv[2])
    os.setgroups([])
    os.setgid(user)
    os.setuid(user)
try:
    atomic_write(Path(sys.argv[1]), lambda tmp: tmp.write_bytes(b"x"))
except PermissionError as exc:
    print(exc, end="")
    sys.exit(3)
"""


def _write_as(user: int | None, target: Path) -> tuple[int, str]:
    """``atomic_write(target, ...)`` in a fresh interpreter, as ``user`` when given (root
    drops to it in the child); (exit status, the error's message). A fresh process, not a
    fork: forking this multithreaded test process (JAX, Numba threads) can leave the child's
    import and codec locks held."""
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_CHILD, str(target), "-" if user is None else str(user)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return done.returncode, done.stdout or done.stderr


def test_read_only_directory_names_the_target(tmp_path):
    """A real read-only directory; as root (who may write anyway) the write runs in a forked
    child that has become the unprivileged user ``nobody``."""
    as_root = os.geteuid() == 0
    base = tmp_path
    if as_root:  # pytest's tmp_path sits in a root-only directory: nobody must reach this one
        base = Path(tempfile.mkdtemp(prefix="npylstm-atomic-"))
        base.chmod(0o755)
    read_only = base / "read_only"
    read_only.mkdir()
    if as_root:
        os.chown(read_only, NOBODY, NOBODY)  # even its owner may not write in it
    read_only.chmod(0o555)
    target = read_only / "y.npy"
    try:
        code, message = _write_as(NOBODY if as_root else None, target)
        assert code == 3, message
        assert message.startswith(f"Cannot write '{target}': Permission denied"), message
        assert "is not writable" in message and ".tmp" not in message
        assert listing(read_only) == []
    finally:
        read_only.chmod(0o755)
        if as_root:
            shutil.rmtree(base)


def test_read_only_file_is_refused_as_open_refuses_it(tmp_path):
    """A 0444 file in a writable directory: ``open(path, "w")`` refuses it, and so does the
    writer (though a rename could replace it); as root, checked as ``nobody``."""
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="npylstm-atomic-")) if as_root else tmp_path
    try:
        base.chmod(0o755)
        directory = base / "writable"
        directory.mkdir()
        target = directory / "model.keras"
        target.write_bytes(b"old")
        target.chmod(0o444)
        if as_root:
            os.chown(directory, NOBODY, NOBODY)
            os.chown(target, NOBODY, NOBODY)
        code, message = _write_as(NOBODY if as_root else None, target)
        assert code == 3, message
        assert message == (f"Cannot write '{target}': Permission denied (the file is "
                           "read-only for this user)")
        assert target.read_bytes() == b"old" and listing(directory) == ["model.keras"]
    finally:
        if as_root:
            shutil.rmtree(base)


def test_long_file_name(tmp_path):
    target = tmp_path / ("n" * 250 + ".npy")  # the longest names a file system takes
    with atomic_open(target) as handle:
        handle.write(b"x")
    assert listing(tmp_path) == [target.name]


_SLOW_CHILD = """
import sys, time
from npylstm.io.atomic import atomic_open
with atomic_open(sys.argv[1]) as handle:
    for chunk in range(1000):
        handle.write(bytes([chunk % 251]) * (1 << 20))
        handle.flush()
        if chunk == 8:
            print("writing", flush=True)
        time.sleep(0.05)
"""


def test_kill_9_mid_write_leaves_old_file_or_nothing(tmp_path):
    """SIGKILL in the middle of a large write: under the final name, the old file whole (or
    nothing when there was none), never a truncated new one."""
    old = tmp_path / "old"
    new = tmp_path / "new"
    old.mkdir(), new.mkdir()
    (old / "big.bin").write_bytes(b"the complete old file")
    children = [
        subprocess.Popen([sys.executable, "-c", _SLOW_CHILD, str(d / "big.bin")], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for d in (old, new)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "writing", child.stderr.read()
        for directory in (old, new):
            temps = [p for p in directory.iterdir() if p.name.endswith(".tmp")]
            assert len(temps) == 1 and temps[0].stat().st_size >= 9 << 20  # mid-write
        for child in children:
            child.send_signal(signal.SIGKILL)
        for child in children:
            assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close(), child.stderr.close()
    assert (old / "big.bin").read_bytes() == b"the complete old file"
    assert not (new / "big.bin").exists()
    # What SIGKILL leaves is a hidden temporary file beside the target (no process may
    # clean up after SIGKILL), never a file under the final name.
    for directory in (old, new):
        assert [p.name for p in directory.iterdir() if p.name != "big.bin"][0].startswith(
            ".big.bin.")


# -- every writer, through its entry point -----------------------------------------------------


class _FullDisk:
    """A file that takes the first ``room`` bytes, then fails as a full disk does."""

    def __init__(self, handle, room: int):
        self._handle, self.room, self.written, self.failed = handle, room, 0, False

    def write(self, data) -> int:
        data = memoryview(data).cast("B") if not isinstance(data, str) else data
        if self.written + len(data) > self.room:
            self._handle.write(data[: self.room - self.written])
            self._handle.flush()
            self.failed = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Every file the writers open through :func:`atomic_open` fills up after 16 bytes."""
    opened: list[_FullDisk] = []

    def fake_open(file, mode="r", **kwargs):
        handle = open(file, mode, **kwargs)
        if "w" not in mode:
            return handle
        opened.append(_FullDisk(handle, room=16))
        return opened[-1]

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)
    return opened


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("atomic_cli")
    npylstm.set_random_seed(0)
    model = npylstm.Sequential([npylstm.Input((4, 2)), npylstm.layers.LSTM(3),
                                npylstm.layers.Dense(2)])
    model_file = model.save(directory / "model.keras")
    x_file = directory / "x.npy"
    np.save(x_file, np.random.default_rng(0).normal(size=(5, 4, 2)).astype("float32"))
    return model_file, x_file


#: Each CLI writer: the command line (``{out}`` is the file it writes) and the file's name.
CLI_WRITERS = {
    "convert-npz": (["convert", "{model}", "{out}"], "state.npz"),
    "convert-pt": (["convert", "{model}", "{out}"], "state.pt"),
    "convert-json": (["convert", "{model}", "{out}"], "config.json"),
    "predict-npy": (["predict", "{model}", "--input", "{x}", "--output", "{out}"], "y.npy"),
    "predict-csv": (["predict", "{model}", "--input", "{x}", "--output", "{out}"], "y.csv"),
    "gates-png": (["gates", "{model}", "--input", "{x}", "--plot", "{out}"], "gates.png"),
}


@pytest.fixture
def tiny_plots(monkeypatch):
    """``gates --plot`` draws a one-axes figure: what is tested is how it is written (the
    real heatmaps go through the same writer in the disk-full test and tests/test_cli.py)."""
    from npylstm import plots

    def tiny(trace, **kwargs):
        fig = plots._figure(figsize=(1, 1))
        fig.subplots().plot([0, 1])
        return fig

    monkeypatch.setattr(plots, "plot_gates", tiny)


def run_writer(capsys, model_files, case: str, out: Path) -> tuple[int, str]:
    if case == "convert-pt":
        pytest.importorskip("torch")
    argv, _ = CLI_WRITERS[case]
    model, x = model_files
    code = cli.main([a.format(model=model, x=x, out=out) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def assert_one_line_error(code: int, err: str, target: Path, cause: str) -> None:
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"Cannot write '{target}': {cause}" in err, err
    assert ".tmp" not in err and "Traceback" not in err and "unexpected" not in err


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("case", list(CLI_WRITERS))
def test_cli_writer_disk_full_mid_write(capsys, model_files, full_disk, tmp_path, request,
                                        case, existing):
    if existing:  # real gate heatmaps once (new), a tiny figure otherwise
        request.getfixturevalue("tiny_plots")
    target = tmp_path / CLI_WRITERS[case][1]
    if existing:
        target.write_bytes(b"the old file")
    code, err = run_writer(capsys, model_files, case, target)
    assert [f.failed for f in full_disk] == [True]  # the writer really wrote, and failed
    assert_one_line_error(code, err, target, os.strerror(errno.ENOSPC))
    assert listing(tmp_path) == ([target.name] if existing else [])
    if existing:
        assert target.read_bytes() == b"the old file"


@pytest.mark.parametrize("case", list(CLI_WRITERS))
def test_cli_writer_modes(capsys, model_files, tmp_path, tiny_plots, case):
    name = CLI_WRITERS[case][1]
    for value in (0o022, 0o077):
        target = tmp_path / f"umask{value:o}" / name
        target.parent.mkdir()
        with umask(value):
            code, err = run_writer(capsys, model_files, case, target)
        assert code == 0, err
        assert mode(target) == 0o666 & ~value
    for old_mode, value in ((0o644, 0o077), (0o600, 0o022)):
        target = tmp_path / f"existing{old_mode:o}" / name
        target.parent.mkdir()
        target.write_bytes(b"old")
        target.chmod(old_mode)
        with umask(value):
            code, err = run_writer(capsys, model_files, case, target)
        assert code == 0, err
        assert target.read_bytes() != b"old" and mode(target) == old_mode
        assert listing(target.parent) == [name]


@pytest.mark.parametrize("case", list(CLI_WRITERS))
def test_cli_writer_unwritable_directory(capsys, model_files, tmp_path, monkeypatch, tiny_plots,
                                         case):
    """The CLI's one-line error for a directory it may not write in names the user's path
    (the temporary file's creation refused, as a read-only directory refuses it)."""
    target = tmp_path / CLI_WRITERS[case][1]
    mkstemp = tempfile.mkstemp

    def denied(prefix, suffix, dir):
        if Path(dir) != tmp_path:  # scratch files elsewhere, if a writer makes any
            return mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        raise PermissionError(errno.EACCES, "Permission denied",
                              os.path.join(dir, f"{prefix}abc{suffix}"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    code, err = run_writer(capsys, model_files, case, target)
    assert_one_line_error(code, err, target, "Permission denied (the directory")
    assert listing(tmp_path) == []


def test_demo_plots_are_atomic(capsys, tmp_path, monkeypatch):
    """The demo's PNGs: a full disk leaves the old picture whole; new ones follow the
    umask, an existing one keeps its mode."""
    out_dir = tmp_path / "demo"
    out_dir.mkdir()
    old = out_dir / "predictions.png"
    old.write_bytes(b"the old picture")
    old.chmod(0o640)
    argv = ["demo", "--epochs", "1", "--samples", "5", "--batch-size", "4", "--no-keras",
            "--out", str(out_dir)]
    with monkeypatch.context() as patch:
        opened: list[_FullDisk] = []

        def fake_open(file, mode="r", **kwargs):
            handle = open(file, mode, **kwargs)
            if "w" in mode:
                opened.append(_FullDisk(handle, room=16))
                return opened[-1]
            return handle

        patch.setattr(atomic, "open", fake_open, raising=False)
        code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert [f.failed for f in opened] == [True]
    assert_one_line_error(code, err, old, os.strerror(errno.ENOSPC))
    assert old.read_bytes() == b"the old picture"
    assert listing(out_dir) == ["damped_sine.keras", "predictions.png"]
    with umask(0o077):
        code = cli.main(argv)
    assert code == 0, capsys.readouterr().err
    assert old.read_bytes()[:4] == b"\x89PNG" and mode(old) == 0o640
    assert mode(out_dir / "history.png") == 0o600
    assert listing(out_dir) == ["damped_sine.keras", "history.png", "predictions.png"]


@pytest.mark.parametrize("name", ["model.keras", "model.weights.h5", "model.h5"])
def test_model_savers_modes_and_full_disk(model_files, tmp_path, monkeypatch, name):
    """save_model / save_weights (helper "optstate"'s writers over this one): open()'s
    permissions (mkstemp's 0600 was the old behaviour) and a full disk at fsync."""
    model = npylstm.load_model(model_files[0])
    save = model.save_weights if name.endswith(".weights.h5") else model.save
    for value in (0o022, 0o077):
        target = tmp_path / f"umask{value:o}" / name
        target.parent.mkdir()
        with umask(value):
            save(target)
        assert mode(target) == 0o666 & ~value
    target = tmp_path / "existing" / name
    target.parent.mkdir()
    save(target)
    target.chmod(0o640)
    before = target.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "fsync", full)
        with pytest.raises(OSError, match=re.escape(f"Cannot write '{target}': No space")):
            save(target)
    assert target.read_bytes() == before and mode(target) == 0o640
    assert listing(target.parent) == [name]
    with umask(0o077):
        save(target)
    assert mode(target) == 0o640
