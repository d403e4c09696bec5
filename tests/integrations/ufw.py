"""ufw on the machine for one test, each lab laptop with its own /etc/ufw (as real laptops have), and every
laptop's ufw put back as the test found it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess

# What a table dump without a filter table stands for (the laptop had no filter rules at all).
EMPTY_FILTER = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
TOOLS = ("iptables", "ip6tables")


def apt_get(*args):
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", *args], check=True, env=env, capture_output=True, timeout=900)


@contextlib.contextmanager
def ufw_on_the_laptops(lab):
    """Installs ufw when the machine lacks it (purged again at the end: other tests expect the machine as
    they found it) and gives every laptop of `lab` its own complete /etc/ufw. On leaving, every laptop whose
    ufw was off is reset (off, no rules, reset's dated backups removed) and gets its packet filter back as it
    was (`ufw disable` leaves its empty chains behind)."""
    installed_here = shutil.which("ufw") is None
    if installed_here:
        apt_get("update")
        apt_get("install", "-y", "--no-install-recommends", "ufw")
    found = {}
    try:
        lab.make_private("/etc/ufw")  # also brings ufw's files into copies made before it was installed
        for lap in lab.laptops:
            status = lab.run(lap.name, ["ufw", "status"]).stdout
            files = set(lab.run(lap.name, ["ls", "/etc/ufw"]).stdout.split())
            tables = {tool: lab.run(lap.name, [f"{tool}-save"], check=True).stdout for tool in TOOLS}
            found[lap.name] = (status, files, tables)
        yield
    finally:
        for name, (status, files, tables) in found.items():
            if "Status: inactive" in status:
                lab.run(name, ["ufw", "--force", "reset"])
                backups = set(lab.run(name, ["ls", "/etc/ufw"]).stdout.split()) - files
                lab.run(name, ["rm", "-f", *(f"/etc/ufw/{b}" for b in backups)])
                for tool, dump in tables.items():
                    lab.run(
                        name, [f"{tool}-restore"], input=dump if "*filter" in dump else EMPTY_FILTER + dump
                    )
        if installed_here:
            apt_get("purge", "-y", "ufw")
