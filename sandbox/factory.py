"""Pick the sandbox backend: Docker when it answers, else the labelled local fallback."""
from __future__ import annotations

from typing import Callable

from engine.errors import SkillkilnError
from sandbox.backend import Backend

Say = Callable[[str], None]
WEAKER_WARNING = "warning: sandbox: local (weaker isolation): {why}; skills run in a local subprocess: {what}"


def open_backend(kind: str, workers: int, say: Say, build: bool = True) -> Backend:
    """kind: docker (must work), local, or auto (Docker if it answers, else local with a warning)."""
    if kind not in ("auto", "docker", "local"):
        raise SkillkilnError(f"unknown sandbox {kind!r}; use docker, local or auto")
    if kind == "local":
        from sandbox.local_backend import LocalBackend, isolation

        say(WEAKER_WARNING.format(why="--sandbox local was asked for", what=isolation()))
        return LocalBackend(workers)
    from sandbox.docker_backend import DockerBackend, docker_client
    from sandbox.image import BUILD_COMMAND, build_image, image_exists, image_tag

    try:
        client = docker_client()
    except SkillkilnError as exc:
        if kind == "docker":
            raise
        from sandbox.local_backend import LocalBackend, isolation

        say(WEAKER_WARNING.format(why=str(exc).split(";")[0], what=isolation()))
        return LocalBackend(workers)
    if not image_exists(client):
        if not build:
            raise SkillkilnError(f"sandbox image {image_tag()} is missing; build it with: {BUILD_COMMAND}")
        say(f"the sandbox image {image_tag()} is missing: building it now (same as `{BUILD_COMMAND}`)")
        build_image(client, say)
    return DockerBackend(workers, client=client)
