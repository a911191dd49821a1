"""Which process runs a run: recorded when it starts or resumes, so `skills runs` can tell a live
run from one whose process died without saying so (kill -9, out of memory, a reboot), and
`evolve --resume` refuses a run another process is still writing."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any


def identity(pid: int | None = None) -> dict[str, Any]:
    """Host, pid and (on Linux) the process's start time in clock ticks, which a reused pid does not share."""
    pid = pid or os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _start_ticks(pid)}


def _start_ticks(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5): starttime


def _recorded(owner: str | None) -> dict[str, Any] | None:
    """The owner as recorded (identity()), or None when nothing readable was."""
    try:
        who = json.loads(owner) if owner else None
    except ValueError:
        return None
    return who if isinstance(who, dict) else None


def other_host(owner: str | None) -> str | None:
    """The host the owner was recorded on when it is not this one (its processes cannot be checked), else None."""
    host = (_recorded(owner) or {}).get("host")
    return str(host) if host and host != socket.gethostname() else None


def alive(owner: str | None) -> bool | None:
    """Whether the recorded process still runs: None when nothing was recorded or it ran on another host."""
    who = _recorded(owner)
    if who is None or who.get("host") != socket.gethostname() or not isinstance(who.get("pid"), int):
        return None
    if who.get("start") is not None:
        return _start_ticks(who["pid"]) == who["start"]
    try:
        os.kill(who["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
