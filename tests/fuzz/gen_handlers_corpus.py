#!/usr/bin/env python3
"""Writes the seeds of tests/fuzz/corpus/handlers/: valid MQTT packet sequences over a few
connections, in fuzz_handlers.c's input format (see the top of that file). Reproducible:
run it again after changing a seed or the format, and commit what it writes.

    tests/fuzz/gen_handlers_corpus.py [OUT_DIR]   (default: corpus/handlers next to it)
"""
import os
import struct
import sys

V31, V311, V5 = 3, 4, 5
DROP, TICK = 5, 6


# ---- MQTT encoding -------------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


# v5 properties: (id, encoder) by name.
PROP = {
    "payload_format": (0x01, None), "message_expiry": (0x02, u32),
    "content_type": (0x03, s), "response_topic": (0x08, s), "correlation_data": (0x09, s),
    "sub_id": (0x0B, varint), "session_expiry": (0x11, u32), "server_keep_alive": (0x13, u16),
    "auth_method": (0x15, s), "auth_data": (0x16, s), "request_problem_info": (0x17, None),
    "will_delay": (0x18, u32), "request_response_info": (0x19, None),
    "reason_string": (0x1F, s), "receive_max": (0x21, u16), "topic_alias_max": (0x22, u16),
    "topic_alias": (0x23, u16), "user": (0x26, None), "max_packet_size": (0x27, u32),
}


def props(items):
    """items: list of (name, value); user properties as ("user", (key, value))."""
    out = bytearray()
    for name, v in items:
        pid, enc = PROP[name]
        out.append(pid)
        if name == "user":
            out += s(v[0]) + s(v[1])
        elif name in ("payload_format", "request_problem_info", "request_response_info"):
            out.append(v)
        else:
            out += enc(v)
    return varint(len(out)) + bytes(out)


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(cid, v=V311, clean=True, keep=60, will=None, user=None, pw=None, p=()):
    """will: (topic, payload, qos, retain, will_props)."""
    flags = 0x02 if clean else 0
    name = s("MQIsdp") if v == V31 else s("MQTT")
    tail = s(cid)
    if will is not None:
        topic, payload, qos, retain, wp = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        if v == V5:
            tail += props(wp)
        tail += s(topic) + s(payload)
    if user is not None:
        flags |= 0x80
        tail += s(user)
    if pw is not None:
        flags |= 0x40
        tail += s(pw)
    body = name + bytes([v, flags]) + u16(keep)
    if v == V5:
        body += props(p)
    return pkt(0x10, body + tail)


def publish(topic, payload, qos=0, pid=0, retain=False, dup=False, v=V311, p=()):
    first = 0x30 | qos << 1 | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = s(topic) + (u16(pid) if qos else b"")
    if v == V5:
        body += props(p)
    return pkt(first, body + (payload.encode() if isinstance(payload, str) else payload))


def ack(kind, pid, v=V311, rc=0):
    """kind: 4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP."""
    body = u16(pid)
    if v == V5 and rc != 0:
        body += bytes([rc]) + props(())
    return pkt(kind << 4 | (0x02 if kind == 6 else 0), body)


def subscribe(pid, subs, v=V311, p=()):
    """subs: list of (filter, options byte)."""
    body = u16(pid) + (props(p) if v == V5 else b"")
    for f, o in subs:
        body += s(f) + bytes([o])
    return pkt(0x82, body)


def unsubscribe(pid, filters, v=V311):
    body = u16(pid) + (props(()) if v == V5 else b"")
    for f in filters:
        body += s(f)
    return pkt(0xA2, body)


def pingreq():
    return b"\xc0\x00"


def disconnect(v=V311, rc=0, p=()):
    if v != V5 or (rc == 0 and not p):
        return b"\xe0\x00"
    return pkt(0xE0, bytes([rc]) + props(p))


def auth(rc, p):
    return pkt(0xF0, bytes([rc]) + props(p))


# ---- fuzz_handlers.c records ---------------------------------------------------------------

class Seed:
    def __init__(self, knobs=0):
        self.out = bytearray([knobs])

    def data(self, slot, b, chunk=None):
        """b to slot's connection, in chunks of at most chunk bytes (split reads)."""
        step = chunk or 0x7FFF
        for i in range(0, len(b), step):
            part = b[i:i + step]
            self.out.append(slot & 3)  # op 0: DATA
            if len(part) < 0x80:
                self.out.append(len(part))
            else:
                self.out += bytes([0x80 | len(part) >> 8, len(part) & 0xFF])
            self.out += part
        return self

    def drop(self, slot):
        self.out.append(DROP << 2 | slot)
        return self

    def tick(self, seconds=1):
        self.out += bytes([TICK << 2, seconds])
        return self


def seeds():
    out = {}

    # v3.1.1: a subscriber with wildcards, then QoS 0/1/2 with every ack on both sides.
    z = Seed()
    z.data(0, connect("pub"))
    z.data(1, connect("sub") + subscribe(1, [("t/#", 2), ("+/x", 1), ("t/+/z", 0)]))
    z.data(0, publish("t/a", "q0") + publish("t/a", "q1", 1, 10) + publish("t/x", "q2", 2, 11))
    z.data(0, ack(6, 11))
    z.data(1, ack(4, 1) + ack(5, 2) + ack(5, 3))
    z.data(1, ack(7, 2) + ack(7, 3) + pingreq())
    z.data(0, pingreq() + disconnect())
    z.data(1, unsubscribe(2, ["t/#", "nope"]) + disconnect())
    out["v311_pubsub_qos012"] = z

    # The same in v5, with properties on every packet that takes them.
    z = Seed()
    z.data(0, connect("pub5", V5, p=[("session_expiry", 30), ("receive_max", 5),
                                     ("request_problem_info", 1), ("user", ("k", "v"))]))
    z.data(1, connect("sub5", V5, p=[("topic_alias_max", 4), ("max_packet_size", 1024)]))
    z.data(1, subscribe(1, [("a/#", 0x26), ("a/+", 0x01), ("a/b", 0x1e)], V5,
                        [("sub_id", 7), ("user", ("x", "y"))]))
    z.data(0, publish("a/b", "v5-q1", 1, 1, v=V5, p=[("message_expiry", 60),
                                                    ("content_type", "text/plain"),
                                                    ("response_topic", "r/1"),
                                                    ("correlation_data", "cd"),
                                                    ("payload_format", 1)]))
    z.data(0, publish("a/b", "v5-q2", 2, 2, v=V5) + ack(6, 2, V5))
    z.data(1, ack(4, 1, V5) + ack(5, 2, V5) + ack(7, 2, V5))
    z.data(1, ack(5, 3, V5, 0x80) + ack(4, 9, V5, 0x10))
    z.data(0, disconnect(V5, 0, [("session_expiry", 0)]))
    z.data(1, disconnect(V5, 0x04, [("reason_string", "bye")]))
    out["v5_pubsub_props"] = z

    # Retained: set, subscribe (delivered with the retain flag), clear, v5 retain handling.
    z = Seed()
    z.data(0, connect("r0") + publish("ret/a", "one", 0, retain=True) +
           publish("ret/b", "two", 1, 1, retain=True) + publish("ret/c", "three", 2, 2, True))
    z.data(0, ack(6, 2))
    z.data(1, connect("r1", V5) + subscribe(1, [("ret/#", 0x02)], V5))
    z.data(2, connect("r2", V5) + subscribe(1, [("ret/+", 0x22), ("ret/a", 0x11)], V5))
    z.data(0, publish("ret/a", "", 0, retain=True))
    z.data(3, connect("r3") + subscribe(1, [("#", 1)]) + subscribe(2, [("ret/#", 2)]))
    z.tick(1)
    out["retained"] = z

    # A will: published when its connection fails, not after a normal DISCONNECT.
    z = Seed()
    z.data(1, connect("watch") + subscribe(1, [("will/#", 2)]))
    z.data(0, connect("dies", will=("will/dies", "gone", 1, True, ())))
    z.drop(0)
    z.data(2, connect("polite", will=("will/polite", "nope", 2, False, ())) + disconnect())
    z.data(3, connect("w5", V5, p=[("session_expiry", 10)],
                      will=("will/w5", "later", 2, False,
                            [("will_delay", 2), ("message_expiry", 5), ("content_type", "t")])))
    z.data(3, disconnect(V5, 0x04))
    z.tick(3).tick(10)
    z.data(1, ack(4, 1) + ack(5, 2) + ack(7, 2))
    out["will"] = z

    # Shared subscriptions: three members of one group, one of another, and a plain one.
    z = Seed()
    for i in range(3):
        z.data(i + 1, connect("m%d" % i, V5 if i else V311) +
               subscribe(1, [("$share/g/s/#", 1)], V5 if i else V311))
    z.data(3, subscribe(2, [("$share/h/s/+", 2), ("s/#", 0)], V5))
    z.data(0, connect("sp"))
    for i in range(6):
        z.data(0, publish("s/%d" % i, "x" * i, i % 3, i + 1))
    z.data(0, ack(6, 3) + ack(6, 6))
    z.data(2, unsubscribe(3, ["$share/g/s/#"], V5))
    z.drop(1)
    z.data(0, publish("s/9", "after", 1, 7))
    out["shared"] = z

    # Topic aliases both ways (v5): the client sets and reuses inbound ones; the subscriber
    # asks for outbound ones.
    z = Seed()
    z.data(1, connect("al-sub", V5, p=[("topic_alias_max", 2)]) +
           subscribe(1, [("al/#", 0)], V5))
    z.data(0, connect("al-pub", V5))
    z.data(0, publish("al/one", "1", v=V5, p=[("topic_alias", 1)]))
    z.data(0, publish("", "2", v=V5, p=[("topic_alias", 1)]))
    z.data(0, publish("al/two", "3", v=V5, p=[("topic_alias", 2)]))
    z.data(0, publish("al/three", "4", v=V5, p=[("topic_alias", 1)]))
    z.data(0, publish("", "5", 1, 1, v=V5, p=[("topic_alias", 1)]))
    z.data(0, publish("al/four", "6", v=V5))
    z.data(0, publish("", "bad", v=V5, p=[("topic_alias", 9)]))
    out["topic_alias"] = z

    # Session takeover and resumption: queued messages delivered after reconnect.
    z = Seed()
    z.data(0, connect("keep", clean=False) + subscribe(1, [("q/#", 2)]))
    z.data(1, connect("keep", clean=False))
    z.drop(1)
    z.data(2, connect("src") + publish("q/1", "a", 1, 1) + publish("q/2", "b", 2, 2))
    z.data(3, connect("keep", clean=False) + ack(4, 1) + ack(5, 2) + ack(7, 2))
    z.data(0, connect("k5", V5, False, p=[("session_expiry", 100)]) +
           subscribe(1, [("q/#", 1)], V5) + disconnect(V5))
    z.data(2, publish("q/3", "c", 1, 3))
    z.data(0, connect("k5", V5, False, p=[("session_expiry", 100)]) + ack(4, 1, V5))
    z.tick(200)
    out["takeover_resume"] = z

    # Split reads: every packet arrives a byte or a few at a time.
    z = Seed()
    z.data(0, connect("split", V5) + subscribe(1, [("sp/+", 1)], V5) +
           publish("sp/x", "y" * 200, 1, 1, v=V5) + ack(4, 1, V5), chunk=1)
    z.data(1, connect("split3", V31) + publish("sp/z", "z" * 300, 2, 5) + ack(6, 5), chunk=7)
    out["split_reads"] = z

    # v3.1 (MQIsdp), an empty client id (assigned in v5), and keep alive.
    z = Seed()
    z.data(0, connect("old31", V31, keep=5) + subscribe(1, [("o/#", 1)]) + pingreq())
    z.data(1, connect("", V5, keep=0) + publish("o/1", "hi", 1, 1, v=V5))
    z.data(2, connect("", V311) + publish("o/2", "hi", 0))
    z.tick(20)
    out["v31_empty_id"] = z

    # v5 enhanced authentication without credentials configured, and AUTH after CONNACK.
    z = Seed()
    z.data(0, connect("au", V5, p=[("auth_method", "SCRAM-SHA-256"),
                                   ("auth_data", "n,,n=user,r=abcdef")]))
    z.data(0, auth(0x18, [("auth_method", "SCRAM-SHA-256"), ("auth_data", "c=biws,r=x,p=y")]))
    z.data(1, connect("au2", V5) + auth(0x19, [("auth_method", "SCRAM-SHA-1")]))
    z.data(2, connect("up", V311, user="u", pw="p") + publish("x", "y"))
    z.tick(15)
    out["auth"] = z

    # Flow control: a small Receive Maximum and in-flight/queue limits (knobs 0x03).
    z = Seed(0x03)
    z.data(1, connect("slow", V5, p=[("receive_max", 1)]) + subscribe(1, [("f/#", 2)], V5))
    z.data(0, connect("fast"))
    for i in range(8):
        z.data(0, publish("f/%d" % i, "m%d" % i, 1 + i % 2, i + 1))
    z.data(0, ack(6, 2) + ack(6, 4) + ack(6, 6) + ack(6, 8))
    z.data(1, ack(4, 1, V5) + ack(5, 2, V5) + ack(7, 2, V5) + ack(4, 3, V5))
    out["flow_control"] = z

    # Publish rate limit: reading pauses, the tick resumes it (knob 0x10).
    z = Seed(0x10)
    z.data(1, connect("rl-sub") + subscribe(1, [("rl", 0)]))
    z.data(0, connect("rl") + b"".join(publish("rl", "p%d" % i) for i in range(6)))
    z.tick(1).tick(2).tick(5)
    out["rate_limit"] = z

    # Small limits: subscriptions per client, topic depth, payload size, packet size, and
    # the client's own Maximum Packet Size (knobs 0x60).
    z = Seed(0x60)
    z.data(1, connect("lim", V5, p=[("max_packet_size", 40)]) +
           subscribe(1, [("a", 1), ("b", 1), ("c", 1), ("d", 1), ("a/b/c/d", 0)], V5))
    z.data(0, connect("limp", V5) + publish("a", "s", 1, 1, v=V5) +
           publish("b", "l" * 60, 1, 2, v=V5) + publish("a/b/c/d/e", "deep", v=V5))
    out["limits"] = z

    # Many filters in one SUBSCRIBE and UNSUBSCRIBE, then protocol errors to end with.
    z = Seed()
    filters = [("many/%d/+" % i, i % 3) for i in range(400)]
    z.data(0, connect("many") + subscribe(1, filters))
    z.data(1, connect("mp") + publish("many/7/x", "hit", 1, 1))
    z.data(0, unsubscribe(2, [f for f, _ in filters]))
    z.data(2, connect("bad") + connect("bad"))
    z.data(3, publish("x", "before connect"))
    out["many_filters"] = z

    # v5 subscription options: no local, retain as published, retain handling 1 and 2.
    z = Seed()
    z.data(0, connect("nl", V5) + publish("o/r", "kept", 0, retain=True, v=V5))
    z.data(0, subscribe(1, [("o/#", 0x04 | 1)], V5, [("sub_id", 3)]) +
           publish("o/self", "not back", 1, 1, v=V5))
    z.data(1, connect("rh", V5) + subscribe(1, [("o/r", 0x08 | 0x10)], V5) +
           subscribe(2, [("o/r", 0x10)], V5) + subscribe(3, [("o/r", 0x20)], V5))
    out["sub_options"] = z

    # The ACL (knob 0x80, fuzz_handlers.c acl_text): granted, denied and pattern topics, a
    # will and retained messages that may not be read, payload format validation.
    z = Seed(0x80)
    z.data(1, connect("reader", V5) + subscribe(1, [("t/#", 1), ("c/reader/#", 1), ("w/#", 1),
                                                    ("$SYS/#", 0), ("#", 0)], V5))
    z.data(0, connect("writer", V5, will=("t/secret/w", "no", 1, False, ())) +
           publish("t/a", "ok", 1, 1, v=V5) + publish("t/secret/x", "no", 1, 2, v=V5) +
           publish("w/x", "write only", 0, retain=True, v=V5) +
           publish("c/reader/in", "pattern", 1, 3, v=V5) +
           publish("t/pf", b"\xff\xfe", 0, v=V5, p=[("payload_format", 1)]))
    z.drop(0)
    z.data(2, connect("u2", user="bob") + subscribe(1, [("u/bob/x", 0)]))
    z.data(3, connect("al", V5, user="alice", pw="secret") +
           subscribe(1, [("a/#", 1), ("t/#", 1), ("u/alice/+", 0)], V5) +
           publish("a/1", "mine", 1, 1, v=V5))
    z.tick(11)
    out["acl"] = z

    # Passwords and SCRAM (knob 0x80, fuzz_handlers.c: alice/secret): a good and a wrong
    # password, both mechanisms' first steps, a client-final that cannot be right, a method
    # change mid-exchange, and an exchange left to time out.
    z = Seed(0x80)
    z.data(0, connect("pw-ok", V311, user="alice", pw="secret") + pingreq())
    z.data(1, connect("pw-bad", V5, user="alice", pw="wrong"))
    z.data(1, connect("s256", V5, p=[("auth_method", "SCRAM-SHA-256"),
                                     ("auth_data", "n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL")]))
    z.data(1, auth(0x18, [("auth_method", "SCRAM-SHA-256"),
                          ("auth_data", "c=biws,r=fyko+d2lbbFgONRv9qkxdawLxxxx,p=AAAA")]))
    z.data(2, connect("s512", V5, p=[("auth_method", "SCRAM-SHA-512"),
                                     ("auth_data", "n,,n=nobody,r=abc")]))
    z.data(2, auth(0x18, [("auth_method", "SCRAM-SHA-256"), ("auth_data", "c=biws")]))
    z.data(3, connect("slow", V5, p=[("auth_method", "SCRAM-SHA-512"),
                                     ("auth_data", "n,,n=alice,r=slowslow")]))
    z.data(3, publish("t/x", "before auth", v=V5))
    z.tick(11)
    out["auth_scram"] = z

    # Overload (knob 0x10): retained messages and a slow subscriber's queue push the heap past
    # memory_limit; QoS 0 is shed, then new clients and QoS 1/2 are refused.
    z = Seed(0x10)
    z.data(1, connect("stuck", V5, p=[("receive_max", 1)]) + subscribe(1, [("big/#", 1)], V5))
    z.data(0, connect("big"))
    for i in range(3):
        z.data(0, publish("big/%d" % i, bytes([65 + i]) * 16000, 1, i + 1, retain=True))
        z.tick(1)
    z.data(0, publish("big/q0", "shed me", 0) + publish("big/q1", "refuse me", 1, 9))
    z.data(2, connect("late"))
    z.tick(1)
    out["overload"] = z
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "handlers")
    os.makedirs(dest, exist_ok=True)
    for name, seed in sorted(seeds().items()):
        with open(os.path.join(dest, name), "wb") as f:
            f.write(bytes(seed.out))


if __name__ == "__main__":
    main()
