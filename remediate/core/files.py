"""Private files and directories: created 0700 and 0600, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from remediate.core.secrets import registry

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create a directory readable by its owner only; its parents are created as usual."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
    # mkdir applies the umask, which may not remove group and other bits on its own.
    path.chmod(DIRECTORY_MODE)
    return path


def write_private_file(path: Path, content: str | bytes) -> Path:
    """Write a file atomically with mode 0600: a reader sees the old file or the new one."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    registry.check(data.decode("utf-8", errors="replace"), destination=str(path))
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
