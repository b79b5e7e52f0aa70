#!/usr/bin/env python3
"""Writes the handler target's seed corpus: real queries (names of the fuzz
zone, every interesting type, with and without EDNS) into seeds/handler/."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "handler")
os.makedirs(OUT, exist_ok=True)

def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"

def query(qname, qtype, qid=0xffff, edns=None, do=False, version=0, opcode=0, qclass=1):
    flags = (opcode << 11) | 0x0100
    ar = 1 if edns is not None else 0
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, ar)
    msg += name(qname) + struct.pack(">HH", qtype, qclass)
    if edns is not None:
        ttl = (version << 16) | (0x8000 if do else 0)
        msg += b"\0" + struct.pack(">HHIH", 41, edns, ttl, 0)
    return msg

names = ["example.test", "www.example.test", "WwW.Mixed.example.test", "blog.example.test",
         "c1.example.test", "loop1.example.test", "self.example.test", "x.apps.example.test",
         "static.apps.example.test", "a.b.cn.example.test", "host.sub.example.test",
         "sub.example.test", "host.dn.example.test", "a.dnloop.example.test",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.dnlong.example.test",
         "big.example.test", "manyaddr.example.test", "mv.example.test", "fo.example.test",
         "fo1.example.test", "wt.example.test", "wcname.example.test", "q.wild.example.test",
         "nx.example.test", "other.test", "mx.OTHER.test", "www.deep.example.test",
         "nowhere.invalid", "unknown.example.test", "svc.example.test", "tosub.example.test",
         "_sip._tcp.example.test", "info.example.test"]
types = [1, 28, 5, 15, 16, 33, 257, 12, 35, 2, 6, 39, 43, 255, 65534, 252, 64, 65]
i = 0
def write(data):
    global i
    with open(os.path.join(OUT, f"seed-{i:04}"), "wb") as f:
        f.write(data)
    i += 1

for n in names:
    write(query(n, 1))
    write(query(n, 255, edns=4096, do=True, qid=0x1234))
for t in types:
    write(query("www.example.test", t, qid=0xaaaa, edns=1232))
    write(query("mv.example.test", t, qid=0x5555))
write(query("big.example.test", 16, edns=512))
write(query("big.example.test", 16, edns=65535))
write(query("manyaddr.example.test", 1, edns=1400))
write(query("www.example.test", 1, edns=1232, version=1))
write(query("www.example.test", 1, opcode=2))
write(query("www.example.test", 1, qclass=3))
write(query("www.example.test", 252))
write(b"\x12\x34\x81\x00" + b"\0" * 8)
