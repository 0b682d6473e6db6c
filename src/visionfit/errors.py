"""User-facing errors: each says what was wrong, where, and how to fix it."""

from __future__ import annotations


class VisionfitError(Exception):
    """An error caused by user input. The CLI prints it on one line, without a traceback."""


class DataError(VisionfitError):
    """The dataset (folders, CSV, images) cannot be used as given."""


class ModelError(VisionfitError):
    """The model name, weights or architecture options cannot be used."""


class RunError(VisionfitError):
    """A run directory is missing, incomplete or inconsistent."""


class DivergedError(RunError):
    """Training stopped: the loss or the weights stopped being finite numbers (a learning rate
    too high, most often). The run directory is left unfinished, without a model."""


class ExportError(ModelError):
    """A model cannot be exported (ONNX / TorchScript), or the export does not match PyTorch."""


class OutputExistsError(VisionfitError):
    """An output file exists already: visionfit never overwrites one; choose another name."""


# What a user can do about an operating-system refusal; errno names, not numbers (they differ
# between systems). Anything else (a missing file we were told exists, ...) is a bug to report.
_OS_ADVICE = {
    "ENOSPC": "no space left on the device: free some space or choose another --runs-dir / --out",
    "EDQUOT": "disk quota exceeded: free some space or choose another --runs-dir / --out",
    "EROFS": "read-only file system: choose a writable --runs-dir / --out",
    "EACCES": "permission denied: give yourself access to it, or choose another path",
    "EPERM": "operation not permitted: choose another path",
    "ENAMETOOLONG": "file name too long: choose a shorter --name / --runs-dir / --out",
    "EMFILE": "too many open files: raise the limit (ulimit -n) or use fewer --num-workers",
    "ENOTDIR": "a part of the path is a file, not a folder: choose another path",
    "EISDIR": "is a folder where a file was expected: name a file",
    "ELOOP": "too many levels of symbolic links: fix the link",
    "EIO": "input/output error: the disk or network share failed; check it and run again",
    "EADDRINUSE": "the address is in use: choose another --port (or stop what listens there)",
    "EADDRNOTAVAIL": "this machine has no such address: choose another --host",
}


def os_error_message(e: OSError) -> str | None:
    """One line for an OS error the user can act on (naming the path), None for anything else.
    A killed or failed training keeps its checkpoints: the line says how to continue."""
    import errno

    name = errno.errorcode.get(e.errno or -1, "")
    advice = _OS_ADVICE.get(name)
    if advice is None:
        return None
    target = e.filename2 or e.filename  # a copy or rename fails on its destination
    where = f"{target}: " if target else ""
    resume = _resume_command(target) if name in ("ENOSPC", "EDQUOT", "EIO") else None
    tail = f" (what was written so far is kept: {resume})" if resume else ""
    return f"{where}{advice}{tail}"


def _resume_command(path) -> str | None:
    """How to continue the run that `path` lies in: the outermost folder above it that is a
    run (config.yaml) or an `auto` directory (auto.json), so a fold continues as its CV run."""
    from pathlib import Path

    found = None
    try:
        for parent in Path(str(path)).parents:
            if (parent / "auto.json").is_file():
                found = f"visionfit auto --resume {parent}"
            elif (parent / "config.yaml").is_file():
                found = f"visionfit train --resume {parent}"
    except OSError:
        pass
    return found
