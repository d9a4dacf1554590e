#!/usr/bin/env python3
"""Seeds corpus/open_read/ with small well-formed recordings in the fuzz
target's input format (fuzz_targets/open_read.rs): a flags byte, for two
segments a u16le split point, then segment bodies. Checksums are left zero:
the seeds set the FIX_CRCS flag, so the target computes them.

Run from crates/record/fuzz: python3 make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus/open_read")
WITH_HEADER, FIX_CRCS, TWO_SEGMENTS, APPEND = 1, 2, 4, 8


def record(seq, time_us, kind, source, payload):
    body = struct.pack("<QqBH", seq, time_us, kind, len(source)) + source + payload
    return struct.pack("<II", len(body), 0) + body


def records(first, count):
    out = b""
    for seq in range(first, first + count):
        kind = 1 + seq % 4
        source = {1: b"/dev/ttyUSB0", 2: b"picket/s/sensors/a/reports"}.get(kind, b"")
        out += record(seq, 1_764_288_000_000_000 + seq * 1000, kind, source, bytes([seq % 256]) * (seq % 7))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    one = records(0, 5)
    flags = WITH_HEADER | FIX_CRCS
    seeds = {
        "clean": bytes([flags]) + one,
        "clean-append": bytes([flags | APPEND]) + one,
        "torn-tail": bytes([flags | APPEND]) + one + records(5, 1)[:-3],
        "corrupt-middle": bytes([WITH_HEADER]) + one,
        "sequence-break": bytes([flags]) + one + records(9, 2),
        "empty-segment": bytes([flags | APPEND]),
    }
    second = records(5, 4)
    seeds["two-segments"] = (bytes([flags | TWO_SEGMENTS | APPEND])
                             + struct.pack("<H", len(one)) + one + second)
    seeds["two-segments-gap"] = (bytes([flags | TWO_SEGMENTS])
                                 + struct.pack("<H", len(one)) + one + records(20, 2))
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as seed:
            seed.write(data)


if __name__ == "__main__":
    main()
