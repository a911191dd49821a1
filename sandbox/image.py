"""Build the sandbox image offline: wheels from the host, a base from the registry or debootstrap.

    python -m sandbox.image build     # builds what is missing, says what it does
    python -m sandbox.image tag       # prints the image tag the current sources need

The tag is a hash of Dockerfile.sandbox, the harness and the pinned requirements, so a
change to any of them makes `evolve` build a fresh image instead of running a stale one.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from engine.errors import SkillkilnError

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile.sandbox"
HARNESS = Path(__file__).resolve().parent / "harness.py"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
PYTHON = "3.11"  # the sandbox's Python (an export of a skill asks for the same)
REGISTRY_BASE = f"python:{PYTHON}-slim"
LOCAL_BASE = "skillkiln-base:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUILD_COMMAND = "python -m sandbox.image build"

Say = Callable[[str], None]


def image_tag() -> str:
    digest = hashlib.sha256()
    for path in (DOCKERFILE, HARNESS, REQUIREMENTS):
        digest.update(path.read_bytes())
    return f"skillkiln-sandbox:{digest.hexdigest()[:12]}"


def _has_image(client, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def image_exists(client) -> bool:
    return _has_image(client, image_tag())


def _download_wheels(dest: Path, say: Say) -> None:
    say("downloading the sandbox's wheels on the host (pip download)")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", PYTHON, "-d", str(dest), "-r", str(REQUIREMENTS)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SkillkilnError(f"could not download the sandbox wheels ({last})")


def _debootstrap_base(client, say: Say) -> None:
    if shutil.which("debootstrap") is None:
        raise SkillkilnError(
            "no registry reachable and debootstrap is missing: apt-get install -y debootstrap, then " + BUILD_COMMAND
        )
    say(f"no registry reachable: making the local base {LOCAL_BASE} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="skillkiln-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs), DEBIAN_MIRROR]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            raise SkillkilnError(f"debootstrap failed ({last}); run it as root with network to {DEBIAN_MIRROR}")
        # trim what a sandbox never needs
        for sub in ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / sub, ignore_errors=True)
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
        repository, tag = LOCAL_BASE.split(":")
        client.api.import_image_from_data(tar.stdout, repository=repository, tag=tag)


def _choose_base(client, say: Say) -> str:
    import docker.errors

    for name in (REGISTRY_BASE, LOCAL_BASE):
        if _has_image(client, name):
            return name
    try:
        say(f"pulling {REGISTRY_BASE}")
        client.images.pull(REGISTRY_BASE)
        return REGISTRY_BASE
    except docker.errors.APIError:
        _debootstrap_base(client, say)
        return LOCAL_BASE


def build_image(client, say: Say = print) -> str:
    """Build the sandbox image if it is missing; return its tag."""
    import docker.errors

    tag = image_tag()
    if _has_image(client, tag):
        return tag
    base = _choose_base(client, say)
    say(f"building the sandbox image {tag} on {base}")
    with tempfile.TemporaryDirectory(prefix="skillkiln-image-") as tmp:
        ctx = Path(tmp)
        _download_wheels(ctx / "wheels", say)
        shutil.copy(DOCKERFILE, ctx / "Dockerfile.sandbox")
        shutil.copy(HARNESS, ctx / "harness.py")
        try:
            client.images.build(
                path=str(ctx), dockerfile="Dockerfile.sandbox", tag=tag, buildargs={"BASE": base},
                network_mode="none", rm=True, forcerm=True, labels={"skillkiln": "sandbox"},
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(item.get("stream", "")) for item in exc.build_log).strip().splitlines()
            raise SkillkilnError(f"sandbox image build failed: {exc.msg} ({(log or [''])[-1]})") from None
    say(f"built {tag}")
    return tag


def main(argv: list[str]) -> int:
    from sandbox.docker_backend import docker_client

    if argv == ["tag"]:
        print(image_tag())
        return 0
    if argv != ["build"]:
        print("usage: python -m sandbox.image build|tag", file=sys.stderr)
        return 2
    try:
        print(build_image(docker_client()))
    except SkillkilnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
