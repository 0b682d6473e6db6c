"""fileio's guarded reads: only regular files, the size checked before reading, never a blocking
open of a named pipe."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from visionfit.errors import VisionfitError
from visionfit.fileio import UnreadableFileError, check_regular, open_regular, read_regular

posix = pytest.mark.skipif(sys.platform == "win32", reason="needs /dev/zero and named pipes")


def in_a_thread(fn):
    """fn()'s exception (or None); fails instead of hanging when fn blocks."""
    outcome: list = []

    def run():
        try:
            fn()
            outcome.append(None)
        except Exception as e:  # noqa: BLE001 - handed back to the test
            outcome.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():
        pytest.fail("blocked on a file that is not a regular file")
    return outcome[0]


@posix
def test_a_named_pipe_is_refused_by_its_stat_without_being_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    for read in (check_regular, open_regular, lambda p: read_regular(p, max_bytes=10)):
        err = in_a_thread(lambda read=read: read(tmp_path / "pipe.png"))
        assert isinstance(err, UnreadableFileError) and isinstance(err, VisionfitError)
        assert err.detail == "not a regular file (a named pipe)" and not err.missing


@posix
def test_a_device_is_refused_before_a_byte_is_read():
    err = in_a_thread(lambda: read_regular("/dev/zero", max_bytes=1 << 30))
    assert isinstance(err, UnreadableFileError)
    assert str(err) == "/dev/zero: unreadable (not a regular file (a device))"


def test_missing_folder_and_too_big(tmp_path):
    with pytest.raises(UnreadableFileError) as info:
        check_regular(tmp_path / "nope")
    assert info.value.missing and info.value.detail == "no such file"
    with pytest.raises(UnreadableFileError, match="is a folder"):
        open_regular(tmp_path)
    (tmp_path / "big").write_bytes(b"x" * 2048)
    with pytest.raises(UnreadableFileError, match=r"over the 0.0 MiB limit"):
        read_regular(tmp_path / "big", max_bytes=1024)
    assert read_regular(tmp_path / "big", max_bytes=2048) == b"x" * 2048
    with open_regular(tmp_path / "big", max_bytes=4096) as f:
        assert f.read(3) == b"xxx"


@posix
def test_a_broken_link_is_missing_and_says_so(tmp_path):
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(UnreadableFileError) as info:
        check_regular(tmp_path / "link.png")
    assert info.value.missing and info.value.detail == "broken symbolic link"
