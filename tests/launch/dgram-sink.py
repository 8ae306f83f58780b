#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# dgram-sink.py notify|journal SOCKET OUTFILE
#
# Stands in for systemd's two datagram sockets in tests that run ch-launch
# without systemd: `notify` appends every sd_notify datagram to OUTFILE (one
# KEY=VALUE per line), `journal` parses journald's native protocol and
# appends "COWVM_SOURCE|PRIORITY|MESSAGE" per record (MESSAGE with \n and
# non-UTF-8 shown escaped), and checks every record is well formed.
# Runs until killed.

import os
import socket
import struct
import sys


def parse_journal(data):
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            if data[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError("binary field not terminated by newline")
            i = nl + 10 + n
        fields[k.decode()] = v
    return fields


def main():
    mode, path, out = sys.argv[1:4]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(path)
    with open(out, "ab", buffering=0) as f:
        while True:
            data = s.recv(1 << 20)
            if mode == "notify":
                f.write(data + b"\n")
                continue
            try:
                r = parse_journal(data)
                msg = r.get("MESSAGE", b"").decode("utf-8", "backslashreplace").replace("\n", "\\n")
                f.write(("%s|%s|%s%s\n" % (r.get("COWVM_SOURCE", b"").decode(), r.get("PRIORITY", b"").decode(),
                                          msg, "|continued" if "COWVM_CONTINUED" in r else "")).encode())
            except Exception as e:  # a malformed record is a test failure: say so in the output
                f.write(("MALFORMED|%r|%r\n" % (e, data[:200])).encode())


if __name__ == "__main__":
    main()
