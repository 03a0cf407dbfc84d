"""The cross-cloud link's weather in the real lab: the default profile measured, a degrade and
its restore, and faults that still cut connections through the emulator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from riftdrill.drivers.local import LocalDriver
from riftdrill.inventory import Inventory
from tests.conftest import riftdrill

pytestmark = pytest.mark.lab
# Back to the deployed weather (50 ms of round trip): far from a degrade's 300 ms, with room for
# a loaded 2-core machine (62 ms was measured under the full lab suite).
BACK_MS = 100


def _rtt(lab: Inventory) -> float:
    got = LocalDriver().link_rtt(lab, lab.links[0].name)
    assert "median_ms" in got, got
    return float(got["median_ms"])


def test_status_shows_a_round_trip_within_20_percent_of_the_profile(lab: Inventory) -> None:
    data = json.loads(riftdrill("status", "--json").stdout)
    link = data["links"][0]
    assert (link["wan"], link["emulated"]) == ("inter-region", True)
    want_ms = 2 * link["latency_ms"]  # one way each way
    measured = link["rtt_ms"]["median_ms"]
    assert abs(measured - want_ms) <= 0.2 * want_ms, link["rtt_ms"]
    human = riftdrill("status").stdout
    assert "profile inter-region: 25 ms one way +- 5 ms" in human
    assert "measured round trip" in human


def test_a_degrade_holds_until_restored_and_heal_restores_it_too(lab: Inventory) -> None:
    riftdrill("fault", "degrade", "--weather", "latency=150ms")
    try:
        degraded = _rtt(lab)
        assert 240 <= degraded <= 360, degraded  # 2 x 150 ms +- 20 %
    finally:
        riftdrill("fault", "restore")
    assert _rtt(lab) <= BACK_MS
    # one left behind: `riftdrill heal` gives the link its deployed weather back
    riftdrill("fault", "degrade", "--weather", "latency=100ms", "--direction", "a-to-b")
    assert 100 <= _rtt(lab) <= 150  # 100 ms one way + 25 ms back
    riftdrill("heal")
    assert _rtt(lab) <= BACK_MS
    assert not json.loads(riftdrill("status", "--json").stdout)["faults"]


_HOLD = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 19998)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(30)
while True:
    b = c.recv(64)
    if not b: break
    c.sendall(b)
"""


def test_a_sever_cuts_a_connection_already_open_through_the_emulator(lab: Inventory) -> None:
    gcp = lab.cloud("gcp")
    assert gcp.namespace is not None
    address = "198.18.2.1"
    server = subprocess.Popen(["ip", "netns", "exec", gcp.namespace, sys.executable, "-c", _HOLD,
                               address], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = subprocess.Popen(
        ["ip", "netns", "exec", "rd-aws", sys.executable, "-c",
         "import socket,sys,time\n"
         "c=socket.create_connection(('198.18.2.1',19998),timeout=10)\n"
         "c.settimeout(3)\n"
         "for i in range(40):\n"
         "    try:\n"
         "        c.sendall(b'x'); c.recv(8); print('ok', flush=True)\n"
         "    except OSError:\n"
         "        print('cut', flush=True)\n"
         "    time.sleep(0.25)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ok"  # the connection crosses the link
        riftdrill("fault", "sever")
        # lines printed before the sever took effect are still in the pipe: read on to the cut
        lines: list[str] = []
        while "cut" not in lines and len(lines) < 20:
            lines.append(client.stdout.readline().strip())
        assert "cut" in lines, lines  # the open connection is cut, not just new ones
    finally:
        riftdrill("fault", "heal-link")
        for p in (client, server):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
    assert _rtt(lab) <= BACK_MS


def test_a_bad_profile_is_one_line_and_changes_nothing(lab: Inventory) -> None:
    before = lab.model_dump()
    proc = riftdrill("deploy", "--wan", "loss=150%", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "riftdrill: error: WAN profile loss 150 is out of range: 0..100 %"]
    from riftdrill import inventory

    assert inventory.load().model_dump() == before
