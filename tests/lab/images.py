"""Images from the controller's engine into a laptop's engine without a registry: docker save | load."""

from __future__ import annotations

import os
import time

from .config import REPO, Laptop
from .shell import progress, run

# One cache for every lab (the main one, the faults' and integrations' labs, a test's own), kept when a lab
# goes down: they all load the same image ids, and each `docker save | zstd` of the trainer image costs ~20 s.
CACHE = REPO / "build" / "lab-images"


def image_id(docker_host: str | None, image: str) -> str | None:
    host = ["-H", docker_host] if docker_host else []
    result = run(["docker", *host, "image", "inspect", "-f", "{{.Id}}", image], check=False, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else None


def load_image(lab, lap: Laptop, image: str) -> float:
    """Load `image` into the laptop unless it already has the same image; returns the seconds it took."""
    wanted = image_id(None, image)
    if wanted is None:
        raise RuntimeError(f"image {image} is not in the host Docker engine; build it first (make image)")
    if image_id(lab.docker_host(lap), image) == wanted:
        return 0.0
    started = time.monotonic()
    # Saved once per image version (zstd keeps the cached tarball small); each laptop loads the same file.
    stem = image.replace("/", "_").replace(":", "_")
    tarball = CACHE / f"{stem}@{wanted.split(':')[-1][:16]}.tar.zst"
    if not tarball.exists():
        progress(f"saving {image} from the host engine")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        for older in tarball.parent.glob(f"{stem}@*.tar.zst"):
            older.unlink()
        partial = tarball.with_name(f"{tarball.name}.{os.getpid()}.partial")
        pipeline = f"docker save {image} | zstd -q -T0 -3 -f -o {partial}"
        run(["bash", "-o", "pipefail", "-c", pipeline], timeout=900)
        partial.rename(tarball)
    progress(f"{lap.name}: loading {image}")
    run(
        ["bash", "-o", "pipefail", "-c", f"zstd -dc {tarball} | docker -H {lab.docker_host(lap)} load"],
        timeout=900,
    )
    return time.monotonic() - started
