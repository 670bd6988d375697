#!/usr/bin/env python3
"""Computes the journal's golden vectors from its written format, not from ferry's code.

Run it with python3 (standard library only); it rewrites the journal_*.txt
files beside it. The tests read those files and never run this script.

The format, from journal.go's comment:

    "FERRYJ01" | u32 header length | header JSON | record*
    record = u32 chunk index | 32-byte chunk hash | u32 CRC-32C of the previous 36 bytes

and "A torn or corrupt tail is ignored" (a reader stops at the first record
whose CRC does not match). Integers are big-endian, as everywhere in ferry's
formats. The comment does not name the header's keys: they, their order and
the sender as its device ID text follow journal.go's journalHeader and
store.go (keys sender, path, size, mtime, chunk, compact encoding/json).
That a record whose index is past the file's last chunk is skipped, and the
records after it still read, is readJournal's doc comment.

CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) is written out below
and checked against its standard check value.
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the catalogue's check value for CRC-32C


def u32(n):
    return struct.pack(">I", n)


# The file of transfer/internal/wire/testdata/golden/filehash_three_chunks_last_short.txt
# (150000 bytes in chunks of 64 KiB) from RFC 8032 TEST 1's device
# (identity/testdata/golden/deviceid_rfc8032_key1.txt); the hashes are its
# chunks', though to the journal they are only 32 bytes each.
HEADER = {
    "sender": "A3R7-3D62-FG5W-BK2Z-KV66-MHW3-BLWN-WIYR-GS7D-BZ23-IVPY-4G3Z-F6UQ",
    "path": "photos/a.bin",
    "size": 150000,
    "mtime": 1767225600123456789,
    "chunk": 65536,
}
HASH = {
    0: bytes.fromhex("68d647e619a930e7b1082f74f334b0c65a315725569bdc123f0ee11881717bfe"),
    1: bytes.fromhex("85c2238f2e3741d5680d17da00a43708a4c354c8d4a065469ef6e2e4edafe40d"),
    2: bytes.fromhex("763027901279048a6e17630e8aba83c3f9ff9f5c4d95fff83ebddebba59c1870"),
    5: bytes(range(32)),
}
HEADER_JSON = json.dumps(HEADER, separators=(",", ":")).encode()


def record(idx, h):
    b = u32(idx) + h
    return b + u32(crc32c(b))


def split(rec):
    return f"{rec[:4].hex()} {rec[4:36].hex()} {rec[36:].hex()}"


def write(fname, comment, records, tail, read, max_chunks=3):
    head = b"FERRYJ01" + u32(len(HEADER_JSON))
    lines = ["# " + l if l else "#" for l in comment.strip().split("\n")]
    lines.append("# Written by gen.py.")
    for k in HEADER:
        lines.append(f"{k}: {HEADER[k]}")
    lines.append(f"max-chunks: {max_chunks}")
    lines += [f"record: {i} {HASH[i].hex()}" for i in records]
    lines += [f"tail: {tail[i:i + 40].hex()}" for i in range(0, len(tail), 40)]
    lines += [f"read: {i} {HASH[i].hex()}" for i in read]
    lines.append(f"header-json: {HEADER_JSON.decode()}")
    lines.append(f"journal: {head[:8].hex()} {head[8:].hex()}")
    lines += [f"journal: {HEADER_JSON[i:i + 32].hex()}" for i in range(0, len(HEADER_JSON), 32)]
    lines += [f"journal: {split(record(i, HASH[i]))}" for i in records]
    lines += [f"journal: {tail[i:i + 40].hex()}" for i in range(0, len(tail), 40)]
    with open(os.path.join(HERE, fname), "w") as f:
        f.write("\n".join(lines) + "\n")


COMMON = """
journal is "FERRYJ01", u32 length of header-json, header-json (the header
fields below), then records: u32 index, hash, u32 CRC-32C of the two.
"""

write(
    "journal_three_records_read_back.txt",
    """
A journal of three chunks recorded as they were verified (0, 2, 1): each
record encodes as given, and reading gives the header and every record.
""" + COMMON,
    records=[0, 2, 1], tail=b"", read=[0, 1, 2],
)
write(
    "journal_torn_tail_ignored.txt",
    """
A journal whose last record was torn (its first 20 bytes written): reading
ignores the torn tail and gives the records before it.
""" + COMMON + "tail is the torn record.",
    records=[0], tail=record(2, HASH[2])[:20], read=[0],
)
bad = bytearray(record(2, HASH[2]))
bad[-1] ^= 0x01
write(
    "journal_bad_crc_ends_records.txt",
    """
A journal with a record whose CRC does not match (chunk 2's, last bit
flipped), then a good one (chunk 1's): reading stops at the bad record, so
only chunk 0 is read.
""" + COMMON + "tail is the bad record and the good one after it.",
    records=[0], tail=bytes(bad) + record(1, HASH[1]), read=[0],
)
write(
    "journal_index_past_end_skipped.txt",
    """
A journal with a record of chunk 5 of a file of 3 chunks between two good
records: reading skips it and goes on.
""" + COMMON,
    records=[0, 5, 1], tail=b"", read=[0, 1],
)
print("journal vectors written to", HERE)
