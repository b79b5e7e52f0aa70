#!/usr/bin/env python3
"""Reflection factor of a DNS server: the attacker's side of bench/amplification.sh.

measure: sends one kind of query from one source address at a fixed rate for
a few seconds and counts, on that same socket (the spoofed "victim"), every
packet and byte that comes back. Meanwhile, in another process, a real
client at another address of the same /24 asks one name ten times a
second, as a resolver would: UDP first, TCP when the answer is truncated,
one second's timeout. Prints one JSON line.

table: reads those lines and prints the Markdown tables of BENCHMARKS.md.

Sizes are UDP payloads (the DNS message); "wire" adds the 28 bytes of the
IPv4 and UDP headers to every packet, both ways.
"""

import argparse
import json
import multiprocessing
import random
import select
import socket
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

ZONE = "amp.test."
HEADERS = 28  # IPv4 (20) + UDP (8)
KINDS = {
    # kind: (query name, type); "nx" gets a new random label every query.
    "any": (ZONE, "ANY"),
    "txt": (ZONE, "TXT"),
    "biga": ("big." + ZONE, "A"),
    "dnskey": (ZONE, "DNSKEY"),
    "nx": (None, "A"),
}
EDNS_PAYLOAD = 1232


def queries(kind, count, rnd):
    """Wire-format queries, EDNS with a 1232-byte buffer, as an attacker sends them."""
    name, rdtype = KINDS[kind]
    out = []
    for _ in range(count):
        qname = name or f"{rnd.getrandbits(40):010x}.{ZONE}"
        q = dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        q.flags &= ~dns.flags.RD  # an authoritative server is asked without RD
        q.id = rnd.getrandbits(16)
        out.append(q.to_wire())
    return out


def snmp_udp():
    """The system's UDP counters (RcvbufErrors shows datagrams the kernel dropped)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:])))


def legit_client(port, source, seconds, result):
    """A real client in the attacked /24: 10 queries/s, TC -> TCP, 1 s timeout."""
    udp = tcp = timeouts = other = 0
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        q = dns.message.make_query("mail." + ZONE, "A", use_edns=0, payload=EDNS_PAYLOAD)
        q.flags &= ~dns.flags.RD
        try:
            r = dns.query.udp(q, "127.0.0.1", timeout=1.0, port=port, source=source)
            if r.flags & dns.flags.TC:
                r = dns.query.tcp(q, "127.0.0.1", timeout=1.0, port=port, source=source)
                tcp += 1
            else:
                udp += 1
            if r.rcode() != dns.rcode.NOERROR or not r.answer:
                other += 1
            latencies.append(time.monotonic() - started)
        except dns.exception.Timeout:
            timeouts += 1
        except OSError:
            other += 1
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    latencies.sort()
    result.put(dict(legit_udp=udp, legit_tcp=tcp, legit_timeouts=timeouts, legit_other=other,
                    legit_p50_ms=round(1000 * latencies[len(latencies) // 2], 2) if latencies else None))


def measure(args):
    rnd = random.Random(f"{args.label}/{args.kind}")
    total = int(args.rate * args.seconds)
    wires = queries(args.kind, total, rnd)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE as root, else capped by rmem_max
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
            break
        except OSError:
            pass
    sock.bind((args.source, 0))
    sock.setblocking(False)
    server = ("127.0.0.1", args.port)

    result = multiprocessing.Queue()
    legit = None
    if not args.no_legit:
        # Same /24 as the attacked address: the neighbour whose answers RRL must not cost.
        neighbour = args.source.rsplit(".", 1)[0] + ".2"
        legit = multiprocessing.Process(target=legit_client,
                                        args=(args.port, neighbour, args.seconds, result))
        legit.start()

    sent = sent_bytes = got = got_bytes = tc = tc_bytes = 0
    sizes = {}
    rcodes = {}
    before = snmp_udp()

    def drain():
        nonlocal got, got_bytes, tc, tc_bytes
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            got += 1
            got_bytes += len(data)
            if len(data) >= 4 and data[2] & 0x02:
                tc += 1
                tc_bytes += len(data)
            else:
                sizes[len(data)] = sizes.get(len(data), 0) + 1
            if len(data) >= 4:
                rc = data[3] & 0x0F
                rcodes[rc] = rcodes.get(rc, 0) + 1

    start = time.monotonic()
    while sent < total:
        now = time.monotonic()
        due = min(total, int((now - start) * args.rate) + 1)
        while sent < due:
            try:
                sock.sendto(wires[sent], server)
            except BlockingIOError:
                break
            sent_bytes += len(wires[sent])
            sent += 1
        drain()
        wait = start + sent / args.rate - time.monotonic()
        if wait > 0:
            select.select([sock], [], [], wait)
    elapsed = time.monotonic() - start
    # Late answers: wait until 0.5 s pass without one.
    quiet = time.monotonic()
    while time.monotonic() - quiet < 0.5:
        n = got
        select.select([sock], [], [], 0.1)
        drain()
        if got != n:
            quiet = time.monotonic()
    after = snmp_udp()

    row = dict(label=args.label, server=args.server, config=args.config, kind=args.kind,
               rate=round(sent / elapsed), seconds=round(elapsed, 2),
               sent=sent, sent_bytes=sent_bytes, got=got, got_bytes=got_bytes,
               tc=tc, tc_bytes=tc_bytes,
               full=got - tc, full_size=max(sizes, key=sizes.get) if sizes else 0,
               query_size=round(sent_bytes / sent, 1) if sent else 0,
               rcodes={dns.rcode.to_text(k): v for k, v in sorted(rcodes.items())},
               rcvbuf_errors=after["RcvbufErrors"] - before["RcvbufErrors"])
    if legit:
        legit.join()
        row.update(result.get())
    print(json.dumps(row), flush=True)
    print(f"{args.server:9} {args.config:5} {args.kind:6} sent {sent} ({sent_bytes} B), got {got} "
          f"({got_bytes} B, {tc} TC): bytes {ratio(got_bytes, sent_bytes):.2f}x, packets "
          f"{ratio(got, sent):.2f}x; neighbour {row.get('legit_udp', 0)} UDP, {row.get('legit_tcp', 0)} TCP, "
          f"{row.get('legit_timeouts', 0)} timeouts", file=sys.stderr)


def ratio(a, b):
    return a / b if b else 0.0


def table(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    configs = []
    for r in rows:
        if (r["server"], r["config"]) not in configs:
            configs.append((r["server"], r["config"]))
    by = {(r["server"], r["config"], r["kind"]): r for r in rows}

    names = {"any": "`amp.test ANY`", "txt": "`amp.test TXT` (8 strings)",
             "biga": "`big.amp.test A` (64 A)", "dnskey": "`amp.test DNSKEY` (no such set)",
             "nx": "random name (NXDOMAIN)"}
    servers = []
    for s, _ in configs:
        if s not in servers:
            servers.append(s)
    print("Sizes with rate limiting off (bytes of DNS message; query with EDNS, 1232):\n")
    print("| query | query bytes | " + " | ".join(f"{s} answer" for s in servers)
          + " | " + " | ".join(f"{s} factor" for s in servers) + " |")
    print("|---|---:|" + "---:|" * (2 * len(servers)))
    for k in kinds:
        offs = [by.get((s, "off", k)) for s in servers]
        q = next((r["query_size"] for r in offs if r), 0)
        cells = [f"{r['full_size']}" + (" TC" if r["tc"] > r["full"] else "") if r else "-" for r in offs]
        facts = [f"{ratio(r['got_bytes'], r['sent_bytes']):.1f}×" if r else "-" for r in offs]
        print(f"| {names[k]} | {q:.0f} | " + " | ".join(cells) + " | " + " | ".join(facts) + " |")

    print("\nReflection factor, bytes out / bytes in (packets out / packets in), "
          "UDP payload; one source /24 at the rate shown:\n")
    print("| server | rate limiting | q/s | " + " | ".join(f"`{k}`" for k in kinds)
          + " | all kinds, wire | real neighbour: answered (of which TCP) / asked |")
    print("|---|---|---:|" + "---|" * len(kinds) + "---:|---|")
    for s, c in configs:
        rs = [by.get((s, c, k)) for k in kinds]
        present = [r for r in rs if r]
        cells = []
        for r in rs:
            if not r:
                cells.append("-")
                continue
            cells.append(f"{ratio(r['got_bytes'], r['sent_bytes']):.2f} ({ratio(r['got'], r['sent']):.2f})")
        wire_out = sum(r["got_bytes"] + HEADERS * r["got"] for r in present)
        wire_in = sum(r["sent_bytes"] + HEADERS * r["sent"] for r in present)
        rate = round(sum(r["rate"] for r in present) / len(present))
        ok = sum(r.get("legit_udp", 0) + r.get("legit_tcp", 0) for r in present)
        via_tcp = sum(r.get("legit_tcp", 0) for r in present)
        asked = ok + sum(r.get("legit_timeouts", 0) + r.get("legit_other", 0) for r in present)
        bad = sum(r.get("legit_other", 0) for r in present)
        legit = f"{ok} ({via_tcp}) / {asked}" + (f", {bad} errors" if bad else "")
        print(f"| {s} | {c} | {rate} | " + " | ".join(cells)
              + f" | {ratio(wire_out, wire_in):.2f} | {legit} |")
    drops = sum(r["rcvbuf_errors"] for r in rows)
    print(f"\n(system UDP receive-buffer drops during the runs: {drops})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--kind", choices=KINDS, required=True)
    m.add_argument("--rate", type=float, default=2000)
    m.add_argument("--seconds", type=float, default=5)
    m.add_argument("--source", default="127.0.0.1", help="the attacked address (spoofed source)")
    m.add_argument("--server", default="server")
    m.add_argument("--config", default="off")
    m.add_argument("--label", default="")
    m.add_argument("--no-legit", action="store_true", help="no real client beside the flood")
    t = sub.add_parser("table")
    t.add_argument("results")
    args = p.parse_args()
    {"measure": measure, "table": table}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
