"""The base image comes from this machine's Debian mirror and is cached by its recipe."""

from __future__ import annotations

import subprocess

import pytest

from tests.lab.base_image import IMAGE, LABEL, apt_mirror, recipe_hash


def test_mirror_is_read_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_mirror_defaults_to_debian_when_apt_names_none(tmp_path):
    assert apt_mirror("bookworm", tmp_path) == "http://deb.debian.org/debian"


@pytest.mark.docker
def test_base_image_carries_the_hash_of_its_recipe(base_image):
    label = subprocess.run(
        ["docker", "image", "inspect", "-f", f'{{{{ index .Config.Labels "{LABEL}" }}}}', IMAGE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert label == recipe_hash()
    python = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", IMAGE, "python3", "-c", "import venv, ssl; print(1)"],
        capture_output=True,
        text=True,
    )
    assert python.stdout.strip() == "1", python.stderr
