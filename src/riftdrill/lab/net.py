"""The lab's network: cloud namespaces, the WAN router namespace, and nftables fault rules.

Layout (every address inside 198.18.0.0/15):

    host ──veth── rd-aws (198.18.1.0/24) ──veth── rd-wan ──veth── rd-gcp (198.18.2.0/24) ──veth── host

The host reaches each cloud over its own veth, so test clients never cross the WAN by accident;
cloud namespaces do not forward, so the only path between clouds is through rd-wan, where
severing the link is a set of nft drop rules. Which namespaces riftdrill made is recorded under
/run/riftdrill (tmpfs: it lives exactly as long as the namespaces do), so a fresh checkout can
clear a lab that an earlier one left behind without touching anything it did not make.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from riftdrill.errors import LabError, SetupError

REGISTRY = Path(os.environ.get("RIFTDRILL_NETNS_REGISTRY", "/run/riftdrill"))
WAN_NS = "rd-wan"
TABLE = "riftdrill"


@dataclass(frozen=True)
class CloudNet:
    name: str  # "aws"
    namespace: str  # "rd-aws"
    cidr: str  # "198.18.1.0/24"
    index: int  # 1-based: picks the point-to-point subnets below

    @property
    def gateway(self) -> str:
        """The cloud's own address: source of its cross-cloud traffic."""
        return str(ipaddress.ip_network(self.cidr).network_address + 1)

    def _p2p(self, base: str) -> tuple[str, str]:
        net = ipaddress.ip_network(base)
        start = net.network_address + 4 * (self.index - 1)
        return str(start + 1), str(start + 2)

    @property
    def host_pair(self) -> tuple[str, str]:
        """(host side, namespace side) of the host veth: 198.19.1.0/30 carved per cloud."""
        return self._p2p("198.19.1.0/24")

    @property
    def wan_pair(self) -> tuple[str, str]:
        """(router side, cloud side) of the WAN veth."""
        return self._p2p("198.19.255.0/24")

    @property
    def host_veth(self) -> str:
        return f"rdh-{self.name}"[:15]

    @property
    def wan_veth(self) -> str:
        return f"wan-{self.name}"[:15]


def run(args: list[str], check: bool = True, input_text: str | None = None) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, input=input_text, timeout=60)
    except FileNotFoundError as exc:
        raise SetupError(f"{args[0]} is not installed; run `make setup`") from exc
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def ns_run(ns: str, args: list[str], check: bool = True, input_text: str | None = None) -> str:
    return run(["ip", "netns", "exec", ns, *args], check=check, input_text=input_text)


def preflight() -> None:
    """Fail early, in one line, when the machine cannot host the lab."""
    if os.geteuid() != 0:
        raise LabError("the local lab needs root for network namespaces; run as root (sudo make ...)")
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            raise SetupError(f"`{tool}` is missing ({pkg}); run `make setup`")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise LabError(f"no network namespace support here ({probe.stderr.strip()}); the lab needs it")


def namespaces() -> set[str]:
    out = run(["ip", "netns", "list"], check=False)
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _marker(ns: str) -> Path:
    return REGISTRY / "netns" / ns


def owned_namespaces() -> dict[str, str]:
    """Namespaces riftdrill made on this machine -> the state dir that made them."""
    found: dict[str, str] = {}
    directory = REGISTRY / "netns"
    if directory.is_dir():
        for marker in directory.iterdir():
            try:
                found[marker.name] = json.loads(marker.read_text()).get("owner", "")
            except (OSError, json.JSONDecodeError):
                found[marker.name] = ""
    return found


def check_namespace_free(ns: str, owner: str) -> bool:
    """True if `ns` exists and is `owner`'s; raises if it exists and is anyone else's."""
    if ns not in namespaces():
        return False
    owned = owned_namespaces()
    if ns not in owned:
        raise LabError(f"network namespace {ns} exists but riftdrill did not make it; "
                       f"remove it (`ip netns del {ns}`) or free the name")
    if owned[ns] != owner:
        raise LabError(f"namespace {ns} belongs to the lab of {owned[ns] or 'another checkout'}; "
                       "run `riftdrill destroy` there, or `riftdrill destroy --orphans` here")
    return True


def claim_namespace(ns: str, owner: str) -> bool:
    """Create `ns` for `owner`; returns False when it already exists and is ours."""
    if check_namespace_free(ns, owner):
        return False
    _marker(ns).parent.mkdir(parents=True, exist_ok=True)
    # Marker first: if we die between the two steps, destroy still finds the namespace.
    _marker(ns).write_text(json.dumps({"owner": owner, "created_at": time.time()}))
    run(["ip", "netns", "add", ns])
    ns_run(ns, ["ip", "link", "set", "lo", "up"])
    return True


def release_namespace(ns: str) -> None:
    """Kill every process inside `ns` (all of them are lab processes), then delete it."""
    if ns in namespaces():
        kill_namespace_pids(ns)
        run(["ip", "netns", "del", ns], check=False)
    _marker(ns).unlink(missing_ok=True)


def namespace_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace_pids(ns: str, timeout_s: float = 5.0) -> None:
    pids = namespace_pids(ns)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _check_host_route_free(cidr: str) -> None:
    routes = run(["ip", "-j", "route", "show"], check=False) or "[]"
    ours = ipaddress.ip_network(cidr)
    for route in json.loads(routes):
        dst = route.get("dst", "")
        if dst in ("", "default") or route.get("type") == "unreachable":
            continue
        try:
            if ipaddress.ip_network(dst, strict=False).overlaps(ours) and not route.get(
                "dev", ""
            ).startswith("rdh-"):
                raise LabError(
                    f"host route {dst} via {route.get('dev')} overlaps the lab's {cidr}; "
                    "remove it or destroy whatever owns it"
                )
        except ValueError:
            continue


def set_ip_forward(ns: str, enabled: bool) -> None:
    # /proc/sys/net is per namespace; no dependency on procps' sysctl.
    ns_run(ns, ["sh", "-c", f"echo {int(enabled)} > /proc/sys/net/ipv4/ip_forward"])


LAB_RANGE = "198.18.0.0/15"


def guard_lab_range() -> None:
    """Make the whole lab range unreachable from the host except through the clouds' veths.

    Without it, a client still running after a destroy would send 198.18.x.y traffic out of the
    default route, off this machine. The per-cloud /24 routes are more specific, so they win.
    It outlives `destroy` on purpose: the range (reserved for benchmarking) is never routed
    anywhere real, and a late client must not leak whether or not a lab is up.
    """
    run(["ip", "route", "replace", "unreachable", LAB_RANGE, "metric", "4242"])


def cloud_up(cloud: CloudNet, owner: str) -> None:
    """A cloud: its namespace, its hosts' addresses (on lo: no dummy module needed), a host veth."""
    if cloud.namespace in namespaces() and cloud.namespace in owned_namespaces():
        release_namespace(cloud.namespace)  # a half-built leftover: rebuild from scratch
    _check_host_route_free(cloud.cidr)
    guard_lab_range()
    claim_namespace(cloud.namespace, owner)
    ns = cloud.namespace
    ns_run(ns, ["ip", "addr", "add", f"{cloud.gateway}/32", "dev", "lo"])
    host_ip, ns_ip = cloud.host_pair
    run(["ip", "link", "del", cloud.host_veth], check=False)
    run(["ip", "link", "add", cloud.host_veth, "type", "veth", "peer", "name", "host0",
         "netns", ns])
    run(["ip", "addr", "add", f"{host_ip}/30", "dev", cloud.host_veth])
    run(["ip", "link", "set", cloud.host_veth, "up"])
    ns_run(ns, ["ip", "addr", "add", f"{ns_ip}/30", "dev", "host0"])
    ns_run(ns, ["ip", "link", "set", "host0", "up"])
    run(["ip", "route", "replace", cloud.cidr, "via", ns_ip, "dev", cloud.host_veth])
    # Not a router: the host must not reach the other cloud through this one.
    set_ip_forward(ns, False)
    _nft_base(ns, hook="input")


def cloud_down(cloud: CloudNet) -> None:
    release_namespace(cloud.namespace)
    run(["ip", "link", "del", cloud.host_veth], check=False)


def add_host_address(ns: str, address: str) -> None:
    """Give a lab host (broker, store) its own address in the cloud."""
    existing = ns_run(ns, ["ip", "-o", "addr", "show", "dev", "lo"], check=False)
    if f" {address}/32 " not in existing:
        ns_run(ns, ["ip", "addr", "add", f"{address}/32", "dev", "lo"])


def remove_host_address(ns: str, address: str) -> None:
    if ns in namespaces():
        ns_run(ns, ["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


WAN_TUN = "rdw0"  # where the router sends cross-cloud packets through the emulator (lab/wan.py)
_TABLES = {0: 100, 1: 101}  # policy routing table per direction (a->b, b->a)


def link_up(a: CloudNet, b: CloudNet, owner: str) -> None:
    """The WAN: router namespace joined to each cloud, packets forwarded by the kernel."""
    if WAN_NS in namespaces() and WAN_NS in owned_namespaces():
        release_namespace(WAN_NS)
    claim_namespace(WAN_NS, owner)
    set_ip_forward(WAN_NS, True)
    for cloud, peer in ((a, b), (b, a)):
        router_ip, cloud_ip = cloud.wan_pair
        run(["ip", "-n", cloud.namespace, "link", "del", "wan0"], check=False)
        run(["ip", "-n", WAN_NS, "link", "add", cloud.wan_veth, "type", "veth", "peer", "name",
             "wan0", "netns", cloud.namespace])
        run(["ip", "-n", WAN_NS, "addr", "add", f"{router_ip}/30", "dev", cloud.wan_veth])
        run(["ip", "-n", WAN_NS, "link", "set", cloud.wan_veth, "up"])
        run(["ip", "-n", cloud.namespace, "addr", "add", f"{cloud_ip}/30", "dev", "wan0"])
        run(["ip", "-n", cloud.namespace, "link", "set", "wan0", "up"])
        run(["ip", "-n", WAN_NS, "route", "replace", cloud.cidr, "via", cloud_ip])
        run(["ip", "-n", cloud.namespace, "route", "replace", peer.cidr, "via", router_ip,
             "src", cloud.gateway])
    _nft_base(WAN_NS, hook="forward")
    _nft_accounting(a, b)


def wan_tun_up(a: CloudNet, b: CloudNet) -> None:
    """Route every packet crossing between a and b through the TUN device the emulator serves:
    arriving from a's veth for b (or from b's for a), it goes to the TUN; written back by the
    emulator, it arrives on the TUN and the main table routes it on. rp_filter is off for the
    TUN: the packets it returns carry the other cloud's source addresses."""
    run(["ip", "netns", "exec", WAN_NS, "ip", "tuntap", "add", "dev", WAN_TUN, "mode", "tun"])
    run(["ip", "-n", WAN_NS, "link", "set", WAN_TUN, "mtu", "1500", "up"])
    run(["ip", "netns", "exec", WAN_NS, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0",
         f"net.ipv4.conf.{WAN_TUN}.rp_filter=0"])
    for i, (src, dst) in enumerate(((a, b), (b, a))):
        table = str(_TABLES[i])
        run(["ip", "-n", WAN_NS, "route", "replace", dst.cidr, "dev", WAN_TUN, "table", table])
        run(["ip", "-n", WAN_NS, "rule", "add", "iif", src.wan_veth, "lookup", table])


def wan_tun_down(a: CloudNet, b: CloudNet) -> None:
    if WAN_NS not in namespaces():
        return
    for i, src in enumerate((a, b)):
        run(["ip", "-n", WAN_NS, "rule", "del", "iif", src.wan_veth, "lookup",
             str(_TABLES[i])], check=False)
    run(["ip", "-n", WAN_NS, "link", "del", WAN_TUN], check=False)


def link_down(a: CloudNet, b: CloudNet) -> None:
    release_namespace(WAN_NS)
    for cloud in (a, b):
        if cloud.namespace in namespaces():
            run(["ip", "-n", cloud.namespace, "link", "del", "wan0"], check=False)


# nftables: one table per namespace, its chain rebuilt from the recorded faults on every change.


def _nft_base(ns: str, hook: str) -> None:
    ns_run(ns, ["nft", "-f", "-"], input_text=(
        f"table inet {TABLE} {{\n"
        f"  chain {hook} {{ type filter hook {hook} priority 0; policy accept; }}\n"
        "}\n"
    ))


def _nft_accounting(a: CloudNet, b: CloudNet) -> None:
    """Byte/packet counters per direction across the WAN (cost per drill: cross-cloud egress).

    A chain of its own, before the fault chain, so rebuilding fault rules never resets them.
    """
    ns_run(WAN_NS, ["nft", "-f", "-"], input_text=(
        f"table inet {TABLE} {{\n"
        "  chain accounting { type filter hook forward priority -10; policy accept; }\n"
        "}\n"
        f"flush chain inet {TABLE} accounting\n"
        # With the emulator a packet is forwarded twice (into the TUN, then out of it): count
        # it once, on the way out to the other cloud.
        f'add rule inet {TABLE} accounting oifname != "{WAN_TUN}" ip saddr {a.cidr} '
        f'ip daddr {b.cidr} counter comment "{a.name}-to-{b.name}"\n'
        f'add rule inet {TABLE} accounting oifname != "{WAN_TUN}" ip saddr {b.cidr} '
        f'ip daddr {a.cidr} counter comment "{b.name}-to-{a.name}"\n'
    ))


def link_counters() -> dict[str, dict[str, int]]:
    """{"aws-to-gcp": {"bytes": n, "packets": n}, ...} since the link was built; {} if no lab."""
    if WAN_NS not in namespaces():
        return {}
    raw = ns_run(WAN_NS, ["nft", "-j", "list", "chain", "inet", TABLE, "accounting"], check=False)
    found: dict[str, dict[str, int]] = {}
    for item in json.loads(raw or '{"nftables": []}').get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        for expr in rule.get("expr", []):
            if "counter" in expr:
                found[rule.get("comment", "?")] = {"bytes": int(expr["counter"]["bytes"]),
                                                   "packets": int(expr["counter"]["packets"])}
    return found


def nft_set_rules(ns: str, hook: str, rules: list[str]) -> None:
    """Atomically replace the chain's rules (one nft transaction: no window without them)."""
    script = f"flush chain inet {TABLE} {hook}\n" + "".join(
        f"add rule inet {TABLE} {hook} {rule}\n" for rule in rules
    )
    ns_run(ns, ["nft", "-f", "-"], input_text=script)
