"""The base image without a registry: debootstrap a minimal Debian and `docker import` it.

Cached by content: the recipe's hash is stored as an image label, and the image is rebuilt only when the
recipe changes."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .config import REPO
from .shell import progress, run

IMAGE = "hetero-base:bookworm"
LABEL = "org.hetero-cluster.base-recipe"
RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "ca-certificates"],
    # Bump when the steps below change in a way that changes the image.
    "steps": "debootstrap; drop apt lists; import with PATH and CMD",
}
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]


def apt_mirror(suite: str = RECIPE["suite"], apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses for `suite` (deb822 .sources or one-line .list files)."""
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
                return fields["URIs"].split()[0]
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        if path.exists():
            for line in path.read_text().splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return DEFAULT_MIRROR


def cached_hash() -> str | None:
    fmt = f'{{{{ index .Config.Labels "{LABEL}" }}}}'
    result = run(["docker", "image", "inspect", "-f", fmt, IMAGE], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_base_image() -> None:
    want = recipe_hash()
    if cached_hash() == want:
        progress(f"{IMAGE} is up to date (recipe {want})")
        return
    rootfs = REPO / "build" / "base-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    mirror = apt_mirror()
    progress(f"building {IMAGE} with debootstrap from {mirror} (about a minute)")
    # debootstrap's own "I: ..." lines are the progress here.
    subprocess.run(
        [
            "debootstrap",
            f"--variant={RECIPE['variant']}",
            f"--include={','.join(RECIPE['include'])}",
            RECIPE["suite"],
            str(rootfs),
            mirror,
        ],
        check=True,
        stdout=sys.stderr,
    )
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    progress(f"importing {IMAGE}")
    changes = [
        f"LABEL {LABEL}={want}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["/bin/bash"]',
    ]
    change_args = " ".join(f"--change '{c}'" for c in changes)
    pipeline = f"tar -C {rootfs} -c . | docker import {change_args} - {IMAGE}"
    run(["bash", "-o", "pipefail", "-c", pipeline], timeout=600)
    shutil.rmtree(rootfs)
    progress(f"{IMAGE} built (recipe {want})")


def ensure_trainer_image() -> str:
    """The CPU trainer image, built from the base image with the project's Dockerfile (`make image`)."""
    ensure_base_image()
    progress("building hetero-trainer:cpu (make image)")
    subprocess.run(["make", "-C", str(REPO), "image"], check=True, stdout=sys.stderr)
    return "hetero-trainer:cpu"
