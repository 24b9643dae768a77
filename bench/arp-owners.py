#!/usr/bin/env python3
"""Who answers ARP for each VIP, once a second, as a client on the LAN sees it.

    arp-owners.py IFACE SOURCE_IP MOVES_LOG VIP...      (as root, in the client's namespace)

Every second: one ARP request per VIP from IFACE, then the replies for 0.8 s. A VIP's owner is
the MAC that answered it; a round in which another MAC answers (alone: a move; beside the owner:
two announcers) counts as a move, logged to MOVES_LOG as "TIME VIP OLD NEW" (NEW lists every MAC
of that round). A round without an answer (a request or reply lost) changes nothing. On SIGTERM
prints "rounds R answered A unanswered U moves M" and exits. Product-neutral: it sees what the
LAN's clients see, whichever speaker answers.
"""
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806


def request(mac: bytes, src: bytes, vip: bytes) -> bytes:
    """A broadcast ARP who-has VIP from (mac, src)."""
    eth = b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + src + b"\x00" * 6 + vip
    return eth + arp


def reply(frame: bytes):
    """(sender IP, sender MAC) of an ARP reply, or None for anything else."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    if struct.unpack("!H", frame[20:22])[0] != 2:
        return None
    return socket.inet_ntoa(frame[28:32]), frame[22:28].hex(":")


def main() -> None:
    iface, source, moves_log, vips = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    with open(f"/sys/class/net/{iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((iface, 0))
    src = socket.inet_aton(source)
    frames = [request(mac, src, socket.inet_aton(v)) for v in vips]
    wanted = set(vips)
    owner = {}
    counts = {"rounds": 0, "answered": 0, "unanswered": 0, "moves": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    log = open(moves_log, "a")
    while not stop:
        start = time.monotonic()
        for frame in frames:
            sock.send(frame)
        seen = {}
        while time.monotonic() - start < 0.8:
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready:
                got = reply(sock.recv(128))
                if got and got[0] in wanted:
                    seen.setdefault(got[0], set()).add(got[1])
        counts["rounds"] += 1
        for vip in vips:
            macs = seen.get(vip)
            if not macs:
                counts["unanswered"] += 1
                continue
            counts["answered"] += 1
            old = owner.get(vip)
            if old is not None and macs != {old}:
                counts["moves"] += 1
                print(time.strftime("%H:%M:%S"), vip, old, ",".join(sorted(macs)), file=log, flush=True)
            owner[vip] = old if old in macs and len(macs) > 1 else min(macs)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    print(" ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
