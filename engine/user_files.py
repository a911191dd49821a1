"""Files a user names on the command line: read one whole and bounded, write one whole or not at all."""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from engine.errors import SkillkilnError


def read_user_file(path: str, cap: int, what: str) -> str:
    """A file the user named, as UTF-8 text: a regular file of at most CAP bytes (a FIFO would hang the
    read, /dev/zero would fill the memory)."""
    file = Path(path).expanduser()
    try:
        info = file.stat()
    except OSError as exc:
        raise SkillkilnError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SkillkilnError(f"cannot read {path}: it is not a regular file")
    if info.st_size > cap:
        raise SkillkilnError(f"{path} holds {info.st_size:,} bytes; {what} is at most {cap:,}")
    try:
        with file.open("rb") as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise SkillkilnError(f"{path} holds more than {cap:,} bytes; {what} is at most {cap:,}")
        return data.decode("utf-8")
    except OSError as exc:
        raise SkillkilnError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SkillkilnError(f"cannot read {path}: it is not UTF-8 text") from None


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor folder of PATH that is no folder (`-o notes.txt/x.py`), if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def write_user_file(path: Path, text: str, failure: str) -> bool:
    """Write TEXT to PATH, a regular file whole or not at all (a full disk leaves no cut file); through a
    symlink to the file it names (the link stays); into a device or pipe (/dev/stdout) as a stream.
    Missing folders are made. True when a regular file was there and is replaced. A failure is one
    SkillkilnError, FAILURE followed by its cause."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file() and not target.is_dir():
        try:
            with open(target, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise SkillkilnError(f"{failure}: {exc.strerror}") from None
        return False
    if (blocking := _blocking_file(target)) is not None:  # mkdir said "File exists"
        raise SkillkilnError(f"{failure}: {blocking} is a file, not a folder")
    replaced = target.is_file()
    part = target.with_name(f".{target.name}.part")  # written whole, then renamed
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(text, encoding="utf-8")
        part.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise SkillkilnError(f"{failure}: {exc.strerror}") from None
    return replaced
