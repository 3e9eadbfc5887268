#!/usr/bin/env python3
"""A DNS server for test/dns_test.sh: answers A queries for names that begin with "slow" after a delay, and for any
other name at once, always with 127.0.0.1 (AAAA and others: no data).  Usage: slow_dns.py ADDRESS DELAY_SECONDS;
listens on ADDRESS port 53 over UDP, prints "ready" when it does, and serves each query in a thread of its own."""
import socket
import struct
import sys
import threading
import time

address, delay = sys.argv[1], float(sys.argv[2])


def question(packet):
    """The query's id, its question section (bytes), its first label and its type."""
    qid = packet[:2]
    i, labels = 12, []
    while packet[i] != 0:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, = struct.unpack("!H", packet[i + 1:i + 3])
    return qid, packet[12:i + 5], labels[0] if labels else "", qtype


def answer(sock, packet, peer):
    qid, q, first, qtype = question(packet)
    if first.startswith("slow"):
        time.sleep(delay)
    if qtype == 1:
        body = struct.pack("!HHHH", 0x8180, 1, 1, 0) + struct.pack("!H", 0) + q
        body += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    else:
        body = struct.pack("!HHHH", 0x8180, 1, 0, 0) + struct.pack("!H", 0) + q
    try:
        sock.sendto(qid + body, peer)
    except OSError:
        pass


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, 53))
print("ready", flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    threading.Thread(target=answer, args=(sock, data, peer), daemon=True).start()
