"""The lab is real: separate laptops with their own address, sshd, Docker engine and paths, reachable the
way the automation reaches them, and gone without a trace after lab-down."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.lab import LabConfig, down, session, up
from tests.lab.config import REPO
from tests.lab.keys import keygen
from tests.lab.laptop import CFS_PERIOD_US, CGROUP_ROOT
from tests.lab.teardown import lab_pids, leftovers

pytestmark = pytest.mark.lab

PY = "/usr/bin/python3"
# Connect to address:port from wherever it runs and print what the server says first.
BANNER = (
    "import socket,sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).recv(64).decode())"
)

# 40 MB all-reduced with gloo; each rank reports where it ran (hostname, cpu cgroup) and what it summed.
GLOO_SCRIPT = """
import datetime, json, socket
import torch, torch.distributed as dist
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=90))
t = torch.full((10_000_000,), float(dist.get_rank() + 1))
dist.all_reduce(t)
cgroup = [line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup") if line.split(":")[1] == "cpu"]
report = {"rank": dist.get_rank(), "host": socket.gethostname(), "cgroup": cgroup[0]}
print(json.dumps({**report, "min": t.min().item(), "max": t.max().item()}))
dist.destroy_process_group()
"""


def tiny_image_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"probe\n"
        info = tarfile.TarInfo("probe.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_inventory_lists_the_laptops_but_not_the_outsider(lab):
    inv = yaml.safe_load(lab.inventory.read_text())
    hosts = inv["all"]["children"]["cluster"]["hosts"]
    assert {name: h["ansible_host"] for name, h in hosts.items()} == {x.name: x.address for x in lab.laptops}
    assert lab.outsider[1] not in {h["ansible_host"] for h in hosts.values()}
    assert "StrictHostKeyChecking=yes" in inv["all"]["children"]["cluster"]["vars"]["ansible_ssh_common_args"]
    # The lab trains with the project's settings: group_vars/ beside the inventory is the project's.
    assert (lab.inventory.parent / "group_vars").resolve() == REPO / "inventory" / "group_vars"


def test_each_laptop_has_its_own_docker_engine_and_paths(lab):
    marker = f"only-here-{uuid.uuid4().hex[:8]}"
    first, second = lab.laptops[:2]
    for lap in lab.laptops:
        info = lab.run(lap, ["docker", "info", "--format", "{{.Name}}"], check=True)
        assert info.stdout.strip() == lap.name  # the default socket inside a laptop is that laptop's engine
        assert "Docker is running" in lab.run(lap, "service docker status", check=True).stdout
    lab.run(first, f"touch /var/lib/hetero-cluster/{marker} /tmp/{marker}", check=True)
    try:
        assert lab.run(second, f"ls /var/lib/hetero-cluster/{marker}").returncode != 0
        assert lab.run(second, f"ls /tmp/{marker}").returncode != 0
        assert not Path(f"/var/lib/hetero-cluster/{marker}").exists()
    finally:
        lab.run(first, f"rm -f /var/lib/hetero-cluster/{marker} /tmp/{marker}")


def test_a_directory_made_private_is_each_laptops_own(lab):
    shared = REPO / "build" / f"private-probe-{uuid.uuid4().hex[:8]}"
    shared.mkdir(parents=True)
    (shared / "from-the-machine").write_text("seed\n")
    first, second = lab.laptops[:2]
    try:
        lab.make_private(str(shared))
        lab.make_private(str(shared))  # idempotent
        lab.run(first, f"touch {shared}/written-by-{first.name}", check=True)
        listing = {x.name: lab.run(x, f"ls {shared}", check=True).stdout.split() for x in (first, second)}
        assert listing == {
            first.name: ["from-the-machine", f"written-by-{first.name}"],
            second.name: ["from-the-machine"],
        }
        assert sorted(p.name for p in shared.iterdir()) == ["from-the-machine"]

        # A package installed on the machine later adds files: made private again, every laptop gains them,
        # and what a laptop changed itself stays its own.
        lab.run(first, f"echo laptop-edit > {shared}/from-the-machine", check=True)
        (shared / "installed-later").write_text("package file\n")
        lab.make_private(str(shared))
        for lap in (first, second):
            assert "installed-later" in lab.run(lap, f"ls {shared}", check=True).stdout.split()
        assert lab.run(first, f"cat {shared}/from-the-machine", check=True).stdout == "laptop-edit\n"
        assert lab.run(second, f"cat {shared}/from-the-machine", check=True).stdout == "seed\n"
    finally:
        for lap in lab.laptops:
            lab.run(lap, f"umount {shared}")
        shutil.rmtree(shared)


def test_an_image_loaded_in_one_laptop_is_absent_in_another(lab):
    first, second = lab.laptops[:2]
    tag = f"hetero-lab-probe:{uuid.uuid4().hex[:8]}"
    lab.docker(first, "import", "-", tag, input=tiny_image_tar(), check=True)
    try:
        assert lab.docker(first, "image", "inspect", tag).returncode == 0
        assert lab.docker(second, "image", "inspect", tag).returncode != 0
    finally:
        lab.docker(first, "image", "rm", tag)


def test_ssh_from_the_controller_checks_host_keys(lab, tmp_path):
    lap = lab.laptops[0]
    result = lab.ssh(lap, "hostname; ls /var/run/docker.sock")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [lap.name, "/var/run/docker.sock"]

    # The same address presenting another key (a changed or impostor host) is refused.
    other = keygen(tmp_path / "other_host_key", "impostor").split()
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{lap.address} {other[0]} {other[1]}\n")
    refused = lab.ssh(lap, "hostname", known_hosts=forged)
    assert refused.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr


def test_laptops_reach_each_other_the_controller_and_the_outsider_reaches_them(lab):
    with socket.create_server((lab.controller, 0)) as server:
        port = server.getsockname()[1]

        def greet():
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"controller-here")

        threading.Thread(target=greet, daemon=True).start()
        last = lab.laptops[-1]
        reply = lab.run(last, [PY, "-c", BANNER, lab.controller, str(port)], check=True)
        assert reply.stdout.strip() == "controller-here"
    for src in lab.laptops:
        for dst in lab.laptops:
            if src != dst:
                banner = lab.run(src, [PY, "-c", BANNER, dst.address, "22"], check=True).stdout
                assert banner.startswith("SSH-2.0"), (src.name, dst.name, banner)
    # No firewall is active yet, so a machine outside the inventory gets through too.
    banner = lab.run_outside([PY, "-c", BANNER, lab.laptops[0].address, "22"], check=True).stdout
    assert banner.startswith("SSH-2.0")


@pytest.mark.docker
@pytest.mark.timeout(2400)
def test_gloo_all_reduce_across_two_laptops_docker_engines(lab, trainer_image):
    ranks = lab.laptops[:2]
    for lap in ranks:
        seconds = lab.load_image(lap, trainer_image)
        print(f"{lap.name}: loaded {trainer_image} in {seconds:.1f}s (0 = already there)")
    procs = []
    for rank, lap in enumerate(ranks):
        env = {
            "RANK": rank,
            "WORLD_SIZE": len(ranks),
            "MASTER_ADDR": ranks[0].address,
            "MASTER_PORT": 29555,
            "GLOO_SOCKET_IFNAME": "eth0",
        }
        cmd = ["docker", "-H", lab.docker_host(lap), "run", "--rm", "--network", "host"]
        cmd += [f"--env={k}={v}" for k, v in env.items()]
        cmd += ["--entrypoint", "python3", trainer_image, "-c", GLOO_SCRIPT]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    for rank, (lap, report) in enumerate(zip(ranks, reports, strict=True)):
        assert report["rank"] == rank
        assert report["host"] == lap.name  # ran on that laptop's engine, in that laptop's network
        assert report["min"] == report["max"] == 3.0  # 1 + 2 from the two ranks, in every element
        # The container sits under the laptop's CPU quota.
        parent = Path(report["cgroup"]).parent
        assert parent == Path(f"/{lab.cfg.cgroup}/{lap.name}")
        quota = int((CGROUP_ROOT / "cpu" / parent.relative_to("/") / "cpu.cfs_quota_us").read_text())
        assert quota == int(lap.cpus * CFS_PERIOD_US)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# A second, one-laptop lab beside the main one: other names, another subnet, its own state directory,
# under /tmp as a checkout there would have it (each laptop has its own /tmp, and gets the lab's files back).
SMALL_LAB = LabConfig.beside_the_main_lab("test", prefix="tl", subnet="10.77.1", cpus=(0.5,))


@pytest.mark.docker
def test_lab_up_cleans_crash_leftovers_and_lab_down_leaves_nothing(base_image):
    cfg = SMALL_LAB
    try:
        crashed = up(cfg)
        cfg.state_file.unlink()  # a crash: everything still runs, but the lab's record of it is lost
        lab = up(cfg)
        assert not lab.reused and lab.problems() == []
        assert not _alive(crashed._holders["tl1"])
        lap = lab.laptops[0]
        assert lab.ssh(lap, "hostname", check=True).stdout.strip() == lap.name
        # The lab's files are under /tmp, each laptop's own; the laptop sees them where the machine does.
        assert lab.run(lap, ["cat", str(cfg.inventory)], check=True).stdout == cfg.inventory.read_text()
        lab.load_image(lap, base_image)
        for network in ("host", "none"):
            lab.docker(lap, "run", "-d", "--network", network, base_image, "sleep", "600", check=True)
        time.sleep(0.5)
        pids = lab_pids(cfg)
        assert len(pids) >= 6  # holder, sshd, dockerd, containerd, and the two containers at least
    finally:
        down(cfg)
    assert leftovers(cfg) == []
    assert [pid for pid in pids if _alive(pid)] == []


def test_a_session_reuses_a_running_lab_and_takes_down_only_the_lab_it_made():
    cfg = SMALL_LAB
    try:
        running = up(cfg)
        with session(cfg) as lab:
            assert lab.laptops == running.laptops
        assert running.problems() == []  # someone else's lab stays up

        down(cfg)
        with pytest.raises(RuntimeError, match="a failing test"), session(cfg) as lab:
            assert lab.problems() == []
            raise RuntimeError("a failing test")
        assert leftovers(cfg) == []
    finally:
        down(cfg)
