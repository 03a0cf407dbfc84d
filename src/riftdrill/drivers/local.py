"""The local lab's driver: brokers are processes in namespaces, the link is nft rules in rd-wan,
the link's byte counters are nft counters there, the stores are moto / S3Proxy / fake-gcs servers.

Each fault and heal returns once it is observed in effect (a bounded wait, else FaultError):
a killed broker's pid is gone, a paused one shows state T, a restarted one accepts a connection,
an nft rule set is listed back with exactly the faults' rules, a blocked store refuses a connect
(it times out: the rule drops) and an unblocked one accepts it again.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riftdrill.drivers import usage
from riftdrill.drivers.base import BrokerState, Effect
from riftdrill.drivers.usage import LinkCounters, StoreSnapshots
from riftdrill.errors import FaultError, RiftdrillError
from riftdrill.inventory import Broker, ConnectWorker, Database, Inventory, MirrorMaker
from riftdrill.lab import net, procs, stores
from riftdrill.redact import Secret

POLL_S = 0.005  # how finely an effect is timed
CONFIRM_S = 10.0  # the bounded wait for a fault or heal to show
CONNECTOR_CONFIRM_S = 60.0  # a resumed task restarts, on a busy worker in tens of seconds
DATABASE_START_S = 60.0  # a crashed PostgreSQL replays its WAL before it accepts connections
PROBE_TIMEOUT_S = 0.3  # a dropped connect: longer than any lab round trip by far

# A restarted broker must listen within this. Tansu reads its state from the object store at
# start: 2-5 s at first, 181 s half an hour into a soak (its bucket then holds a great many
# objects; run 20261204T233256Z-soak, docs/findings.md), which failed the soak's heal at 120 s.
RESTART_WAIT_S = 300.0


def wait_for(check: Callable[[], bool], timeout_s: float | None = None,
             poll_s: float | None = None) -> int | None:
    """Epoch ns of the first poll at which `check()` held, None if not within `timeout_s`
    (default CONFIRM_S)."""
    deadline = time.monotonic() + (CONFIRM_S if timeout_s is None else timeout_s)
    while True:
        if check():
            return time.time_ns()
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S if poll_s is None else poll_s)


def connects(address: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _store_effect(requested_ns: int, address: str, port: int, blocked: bool) -> Effect:
    """Blocked: a connect fails (dropped: it times out); its start is when the drop was seen in
    force. Unblocked: a connect succeeds."""
    deadline = time.monotonic() + CONFIRM_S
    while time.monotonic() < deadline:
        probe_ns = time.time_ns()
        if connects(address, port) != blocked:
            return Effect(requested_ns, probe_ns if blocked else time.time_ns(),
                          f"store {'unreachable' if blocked else 'reachable'} "
                          f"(connect to {address}:{port} {'failed' if blocked else 'succeeded'})")
        time.sleep(POLL_S)
    raise FaultError(f"store at {address}:{port} is still "
                     f"{'reachable' if blocked else 'unreachable'} {CONFIRM_S:g} s after "
                     f"{'blocking' if blocked else 'unblocking'} it; check `nft list ruleset` "
                     "in its cloud's namespace")


def _rules_listed(ns: str, hook: str, ids: list[str]) -> bool:
    """The chain holds a rule for exactly these fault ids (by their comments)."""
    listed = net.ns_run(ns, ["nft", "list", "chain", "inet", net.TABLE, hook], check=False)
    found = {part.split('"', 1)[0] for part in listed.split('comment "')[1:]}
    return found == set(ids)


def _nft_effect(requested_ns: int, ns: str, hook: str, ids: list[str], what: str) -> Effect:
    confirmed = wait_for(lambda: _rules_listed(ns, hook, ids), timeout_s=5.0, poll_s=0.05)
    if confirmed is None:
        raise FaultError(f"the {what} rules were loaded but `nft list chain inet {net.TABLE} "
                         f"{hook}` in {ns} does not show them; check nftables there")
    return Effect(requested_ns, confirmed,
                  "nft rule listed" if ids else "nft rules gone")


class LocalDriver:
    def broker_state(self, inv: Inventory, broker: Broker) -> BrokerState:
        return procs.state(broker.handle)

    def kill_broker(self, inv: Inventory, broker: Broker) -> Effect:
        requested = time.time_ns()
        procs.send(broker.handle, signal.SIGKILL)
        gone = wait_for(lambda: procs.pid_of(broker.handle) is None)
        if gone is None:
            raise FaultError(f"broker {broker.name} survived SIGKILL for {CONFIRM_S:g} s")
        return Effect(requested, gone, "pid gone")

    def pause_broker(self, inv: Inventory, broker: Broker) -> Effect:
        return _pause_process(broker.handle, f"broker {broker.name}", procs.send)

    def resume_broker(self, inv: Inventory, broker: Broker) -> Effect:
        return _resume_process(broker.handle, f"broker {broker.name}", procs.send)

    def start_broker(self, inv: Inventory, broker: Broker) -> Effect:
        requested = time.time_ns()
        procs.restart(broker.handle)
        stores.wait_listening(broker.address, broker.port, broker.handle,
                              timeout_s=RESTART_WAIT_S)
        listening = time.time_ns()  # the connect that just succeeded
        if inv.engine == "tansu":
            from riftdrill.lab.components import ensure_durable

            ensure_durable(broker.handle)
        return Effect(requested, listening, "broker listening")

    def kill_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        return _kill_process(mirror.handle, f"MirrorMaker 2 {mirror.name}")

    def start_mirror(self, inv: Inventory, mirror: MirrorMaker) -> Effect:
        return _start_process(mirror.handle)

    def kill_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        return _kill_process(worker.handle, f"Connect worker {worker.name}")

    def start_worker(self, inv: Inventory, worker: ConnectWorker) -> Effect:
        return _start_process(worker.handle)

    def kill_database(self, inv: Inventory, database: Database) -> Effect:
        from riftdrill.hub.postgres import CRASH_SHUTDOWN

        return _kill_process(database.handle, f"database {database.name}", CRASH_SHUTDOWN)

    def start_database(self, inv: Inventory, database: Database) -> Effect:
        from riftdrill.hub.postgres import wait_ready

        requested = time.time_ns()
        if procs.pid_of(database.handle) is not None:
            return Effect.since(requested, "already running")
        procs.restart(database.handle)
        wait_ready(database.address, database.port, timeout_s=DATABASE_START_S,
                   alive=lambda: procs.state(database.handle) != "dead")
        return Effect(requested, time.time_ns(), "accepts connections")

    def pause_connector(self, inv: Inventory, connector: str) -> Effect:
        return _connector_to(inv, connector, "PAUSED")

    def resume_connector(self, inv: Inventory, connector: str) -> Effect:
        return _connector_to(inv, connector, "RUNNING")

    def pause_database(self, inv: Inventory, database: Database) -> Effect:
        # every server process: a stopped postmaster alone leaves its backends serving
        return _pause_process(database.handle, f"database {database.name}", procs.send_tree,
                              procs.tree_state)

    def resume_database(self, inv: Inventory, database: Database) -> Effect:
        return _resume_process(database.handle, f"database {database.name}", procs.send_tree)

    def sync_link(self, inv: Inventory, link: str) -> Effect:
        lk = inv.link(link)
        a, b = inv.cloud(lk.a).cidr, inv.cloud(lk.b).cidr
        rules: list[str] = []
        for fault in inv.faults_on("sever_link", lk.name):
            pairs = {"both": [(a, b), (b, a)], "a-to-b": [(a, b)], "b-to-a": [(b, a)]}
            for src, dst in pairs[fault.direction]:
                rules.append(f'ip saddr {src} ip daddr {dst} drop comment "{fault.id}"')
        requested = time.time_ns()
        net.nft_set_rules(net.WAN_NS, "forward", rules)
        return _nft_effect(requested, net.WAN_NS, "forward",
                           [f.id for f in inv.faults_on("sever_link", lk.name)], "link")

    def sync_weather(self, inv: Inventory, link: str) -> Effect:
        """Tell the link's emulator (lab/wan.py) the weather of the newest recorded
        degrade_link fault, or to go back to the deployed profile; confirmed when the emulator
        reports that profile in force."""
        from riftdrill.lab import components, wan

        lk = inv.link(link)
        if not lk.emulated and not inv.faults_on("degrade_link", lk.name):
            # nothing to give back: the heal of a degrade whose injection was refused
            return Effect.since(time.time_ns(), "no weather emulator, no degrade recorded")
        if not lk.emulated:
            raise FaultError(f"link {lk.name} has no weather emulator (deployed with profile "
                             f"{lk.wan!r}); redeploy with a profile that emulates it "
                             "(`make deploy WAN=inter-region`)")
        sock = components.wan_socket(lk.name)
        recorded = [f for f in inv.faults_on("degrade_link", lk.name) if f.weather]
        requested = time.time_ns()
        if recorded:
            reply = wan.set_weather(sock, recorded[-1].weather or {})
            want = recorded[-1].weather
        else:
            reply = wan.reset_weather(sock)
            want = reply.get("base")
        if want is not None and reply.get("profile") != want:
            raise FaultError(f"the emulator of link {lk.name} reports {reply.get('profile')}, "
                             f"not {want}")
        return Effect.since(requested, "emulator profile reported")

    def sync_store_weather(self, inv: Inventory, store: str) -> Effect:
        """Tell the store's weather proxy (lab/storeweather.py) the newest recorded brownout's
        weather, or to go back to clear; confirmed when the proxy reports it in force."""
        from riftdrill.lab import storeweather

        st = inv.store(store)
        sock = storeweather.control_socket(st.name)
        recorded = [f for f in inv.faults_on("brownout_store", st.name) if f.weather]
        requested = time.time_ns()
        if recorded:
            want = recorded[-1].weather or {}
            reply = storeweather.set_weather(sock, want)
            if any(reply.get("profile", {}).get(k) != v for k, v in want.items()):
                raise FaultError(f"the weather proxy of store {st.name} reports "
                                 f"{reply.get('profile')}, not {want}")
        else:
            storeweather.reset_weather(sock)
        return Effect.since(requested, "proxy profile reported")

    def sync_store(self, inv: Inventory, store: str) -> Effect:
        st = inv.store(store)
        ns = inv.cloud(st.cloud).namespace
        if ns is None:
            raise FaultError(f"cloud {st.cloud} has no lab namespace")
        # The cloud's input chain serves every store in that cloud: rebuild it from all faults.
        rules: list[str] = []
        for fault in inv.faults_on("block_object_store"):
            other = inv.store(fault.target)
            if other.cloud == st.cloud:
                # drop, not reject: an outage looks like timeouts to clients, as in a real cloud.
                ports = ", ".join(str(p) for p in other.ports)
                rules.append(f'ip daddr {other.address} tcp dport {{ {ports} }} drop '
                             f'comment "{fault.id}"')
        requested = time.time_ns()
        net.nft_set_rules(ns, "input", rules)
        blocked = bool(inv.faults_on("block_object_store", st.name))
        return _store_effect(requested, st.address, st.port, blocked)

    def link_counters(self, inv: Inventory) -> LinkCounters:
        try:
            return net.link_counters()  # the accounting chain of rd-wan
        except Exception:  # a measurement never fails a drill
            return {}

    def link_rtt(self, inv: Inventory, link: str) -> dict[str, Any]:
        """A TCP ping-pong from the link's `a` cloud to the `b` cloud's own address."""
        from riftdrill.lab import wan

        lk = next((x for x in inv.links if x.name == link), None)
        if lk is None:
            return {"error": f"no link {link!r}"}
        a, b = inv.cloud(lk.a), inv.cloud(lk.b)
        if a.namespace is None or b.namespace is None:
            return {"error": f"link {link} joins no lab namespaces"}
        gateway = str(ipaddress.ip_network(b.cidr).network_address + 1)  # net.CloudNet.gateway
        try:
            sample = wan.measure_rtt(a.namespace, b.namespace, gateway)
        except RiftdrillError as exc:
            return {"error": str(exc)}
        return {"median_ms": sample.median_ms, "min_ms": sample.min_ms, "max_ms": sample.max_ms,
                "samples": sample.samples}

    def start_store_recording(self, inv: Inventory) -> None:
        usage.start_store_recording(inv)

    def store_snapshot(self, inv: Inventory) -> StoreSnapshots:
        return usage.collect_store_usage(inv)

    def log_files(self, inv: Inventory) -> dict[str, Path]:
        # the supervisor's log of each process (procs.log_path): its stdout and stderr
        named = [(b.name, b.handle) for b in inv.brokers] + [(m.name, m.handle) for m in inv.mirrors]
        if inv.hub is not None:  # the hub's Connect workers and databases, by their names
            named += [(w.name, w.handle) for w in inv.hub.workers]
            named += [(d.name, d.handle) for d in inv.hub.databases]
        return {name: procs.log_path(handle) for name, handle in named
                if handle and procs.log_path(handle).is_file()}

    def known_secrets(self, inv: Inventory) -> list[Secret]:
        # The hub's PostgreSQL has no password to hide: its pg_hba trusts the lab's own addresses
        # (hub/postgres.py TRUSTED_CIDRS) and the connectors send none. SASL passwords and TLS
        # keys, when the lab has them, are files under .riftdrill/secrets/.
        return stores.secrets() if inv.stores else []


def _kill_process(handle: str, what: str, sig: signal.Signals = signal.SIGKILL) -> Effect:
    """Kill one of the lab's service processes (SIGKILL, or the signal that crashes it whole);
    in effect once its pid is gone."""
    requested = time.time_ns()
    procs.send(handle, sig)
    gone = wait_for(lambda: procs.pid_of(handle) is None)
    if gone is None:
        raise FaultError(f"{what} survived {sig.name} for {CONFIRM_S:g} s")
    return Effect(requested, gone, "pid gone")


def _connector_to(inv: Inventory, connector: str, state: str) -> Effect:
    """Pause or resume a hub connector over REST; in effect once it and its tasks show
    `state` (a resume waits for the tasks to restart)."""
    from riftdrill.hub.pipeline import ConnectRest, state_of

    hub = inv.require_hub()
    rest = ConnectRest([w.rest_url for w in hub.workers])
    requested = time.time_ns()
    (rest.pause if state == "PAUSED" else rest.resume)(connector)

    def shows() -> bool:
        conn, tasks = state_of(rest.status(connector))
        return conn == state and all(t == state for t in tasks)

    seen = wait_for(shows, timeout_s=CONNECTOR_CONFIRM_S, poll_s=0.2)
    if seen is None:
        raise FaultError(f"connector {connector} not {state} {CONNECTOR_CONFIRM_S:g} s after "
                         f"the request: {state_of(rest.status(connector))}")
    return Effect(requested, seen, f"status {state}")


Signal = Callable[[str, signal.Signals], bool]
State = Callable[[str], procs.ProcState]


def _pause_process(handle: str, what: str, send: Signal, state: State | None = None) -> Effect:
    """SIGSTOP; in effect once the process (or, with `procs.tree_state`, every process of
    its tree) shows state stopped."""
    requested = time.time_ns()
    if not send(handle, signal.SIGSTOP):
        raise FaultError(f"{what} is not running; cannot pause it")
    shows = state or procs.state  # looked up at the call: tests stand in for procs
    stopped = wait_for(lambda: shows(handle) == "paused")
    if stopped is None:
        raise FaultError(f"{what} did not show state stopped {CONFIRM_S:g} s after SIGSTOP; "
                         "`riftdrill heal` resumes it")
    return Effect(requested, stopped, "state stopped")


def _resume_process(handle: str, what: str, send: Signal) -> Effect:
    requested = time.time_ns()
    if not send(handle, signal.SIGCONT):
        return Effect.since(requested, "not running (nothing to resume)")
    running = wait_for(lambda: procs.state(handle) == "running")
    if running is None:
        raise FaultError(f"{what} still stopped {CONFIRM_S:g} s after SIGCONT")
    return Effect(requested, running, "state running")


def _start_process(handle: str) -> Effect:
    """Start a killed service process again with its recorded argv; a running one is left."""
    requested = time.time_ns()
    if procs.pid_of(handle) is not None:
        return Effect.since(requested, "already running")
    procs.restart(handle)
    return Effect.since(requested, "process started")
