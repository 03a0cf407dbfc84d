"""The local lab's driver: brokers are processes in namespaces, the link is nft rules in rd-wan,
the link's byte counters are nft counters there, the stores are moto / S3Proxy / fake-gcs servers."""

from __future__ import annotations

import signal

from riftdrill.drivers import usage
from riftdrill.drivers.base import BrokerState
from riftdrill.drivers.usage import LinkCounters, StoreSnapshots
from riftdrill.errors import FaultError
from riftdrill.inventory import Broker, Inventory
from riftdrill.lab import net, procs, stores


class LocalDriver:
    def broker_state(self, inv: Inventory, broker: Broker) -> BrokerState:
        return procs.state(broker.handle)

    def kill_broker(self, inv: Inventory, broker: Broker) -> None:
        procs.send(broker.handle, signal.SIGKILL)
        if not procs.wait_dead(broker.handle, 10):
            raise FaultError(f"broker {broker.name} survived SIGKILL for 10 s")

    def pause_broker(self, inv: Inventory, broker: Broker) -> None:
        if not procs.send(broker.handle, signal.SIGSTOP):
            raise FaultError(f"broker {broker.name} is not running; cannot pause it")
        procs.wait_state(broker.handle, "paused", 5)

    def resume_broker(self, inv: Inventory, broker: Broker) -> None:
        if procs.send(broker.handle, signal.SIGCONT):
            procs.wait_state(broker.handle, "running", 5)

    def start_broker(self, inv: Inventory, broker: Broker) -> None:
        procs.restart(broker.handle)
        stores.wait_listening(broker.address, broker.port, broker.handle, timeout_s=120)
        if inv.engine == "tansu":
            from riftdrill.lab.components import ensure_durable

            ensure_durable(broker.handle)

    def sync_link(self, inv: Inventory, link: str) -> None:
        lk = inv.link(link)
        a, b = inv.cloud(lk.a).cidr, inv.cloud(lk.b).cidr
        rules: list[str] = []
        for fault in inv.faults_on("sever_link", lk.name):
            pairs = {"both": [(a, b), (b, a)], "a-to-b": [(a, b)], "b-to-a": [(b, a)]}
            for src, dst in pairs[fault.direction]:
                rules.append(f'ip saddr {src} ip daddr {dst} drop comment "{fault.id}"')
        net.nft_set_rules(net.WAN_NS, "forward", rules)

    def sync_store(self, inv: Inventory, store: str) -> None:
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
        net.nft_set_rules(ns, "input", rules)

    def link_counters(self, inv: Inventory) -> LinkCounters:
        try:
            return net.link_counters()  # the accounting chain of rd-wan
        except Exception:  # a measurement never fails a drill
            return {}

    def start_store_recording(self, inv: Inventory) -> None:
        usage.start_store_recording(inv)

    def store_snapshot(self, inv: Inventory) -> StoreSnapshots:
        return usage.collect_store_usage(inv)
