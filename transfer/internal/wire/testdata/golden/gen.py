#!/usr/bin/env python3
"""Computes the wire format's golden vectors from the written spec, not from ferry's code.

Run it with python3 (standard library only); it rewrites the *.txt files
beside it. The tests read those files and never run this script.

What the vectors follow (transfer/doc.go unless said otherwise):
  - "Hashes": a chunk's hash is BLAKE3-256 of its bytes; a file's hash is
    BLAKE3-256 of "ferryF01", the size and chunk size as big-endian u64, and
    the chunk hashes in order.
  - The have digest (only in wire/hash.go's comment, "condenses the hashes of
    the chunks a receiver kept, in index order"; doc.go says "a digest of
    their hashes"): BLAKE3-256 over, for each kept chunk, its index as a
    big-endian u64 and its hash.
  - "Control stream": type byte, 4-byte big-endian length, JSON body; the
    frame types and keys in the order doc.go lists them. Which keys are left
    out when false, zero or empty is not written in doc.go: it follows
    wire.go's struct tags (omitempty). Byte strings are standard base64 with
    padding (encoding/json's).
  - "Data streams": 0x10 and the 16-byte token; 0x11 | u32 file | u32 chunk |
    u32 length | bytes | BLAKE3-256(bytes).
  - "Verification code": commitment SHA-256("ferry/2 verification
    commit\\0" || nonce_R); code from SHAKE256("ferry/2 verification
    code\\0" || for each field: u16 length || field), the first 8-byte
    big-endian word w <= 2^64 - (2^64 mod 10^6) - 1, as w mod 10^6, "123-456".

BLAKE3 is written out below from its specification (the BLAKE3 paper, the
reference implementation's structure), since Python's hashlib has none; it
is checked against BLAKE3's published hashes and, if the b3sum tool is on
PATH (Debian's b3sum package, the BLAKE3 team's Rust implementation),
against it on many lengths.

The device IDs are those of identity/testdata/golden (RFC 8032's two test
keys), copied here as hex.
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

# --- BLAKE3 (hash mode, 32-byte output) -------------------------------------

IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
PERM = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]
CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8
M32 = 0xFFFFFFFF


def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & M32


def _g(s, a, b, c, d, x, y):
    s[a] = (s[a] + s[b] + x) & M32
    s[d] = _rotr(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M32
    s[b] = _rotr(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b] + y) & M32
    s[d] = _rotr(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M32
    s[b] = _rotr(s[b] ^ s[c], 7)


def _compress(cv, block, counter, block_len, flags):
    m = list(struct.unpack("<16I", block))
    s = list(cv) + IV[:4] + [counter & M32, counter >> 32, block_len, flags]
    for r in range(7):
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        m = [m[i] for i in PERM]
    return [s[i] ^ s[i + 8] for i in range(8)]  # the chaining value half


def _chunk_node(chunk, index):
    """The last block of a 1 KiB chunk, ready to compress: (cv, block, counter, len, flags)."""
    cv = IV
    blocks = [chunk[i : i + 64] for i in range(0, len(chunk), 64)] or [b""]
    for j, b in enumerate(blocks):
        flags = (CHUNK_START if j == 0 else 0) | (CHUNK_END if j == len(blocks) - 1 else 0)
        if j == len(blocks) - 1:
            return (cv, b.ljust(64, b"\0"), index, len(b), flags)
        cv = _compress(cv, b, index, 64, flags)


HASHED = []  # every input hashed for a vector, to check against b3sum at the end


def blake3(data):
    HASHED.append(bytes(data))
    return _blake3(data)


def _blake3(data):
    nodes = [_chunk_node(data[i : i + 1024], i // 1024) for i in range(0, len(data), 1024)]
    nodes = nodes or [_chunk_node(b"", 0)]

    def subtree(lo, hi):
        if hi - lo == 1:
            return nodes[lo]
        left = 1 << ((hi - lo - 1).bit_length() - 1)  # the largest power of two below hi-lo
        cvs = [_compress(*subtree(lo, lo + left)), _compress(*subtree(lo + left, hi))]
        return (IV, struct.pack("<16I", *cvs[0], *cvs[1]), 0, 64, PARENT)

    cv, block, counter, block_len, flags = subtree(0, len(nodes))
    return struct.pack("<8I", *_compress(cv, block, counter, block_len, flags | ROOT))


def pattern(n):
    """n bytes, byte i being i mod 251 (the input of BLAKE3's own test vectors)."""
    return bytes(i % 251 for i in range(n))


# Published: BLAKE3 of "" and of "abc" (the BLAKE3 README and test suites).
assert blake3(b"").hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
assert blake3(b"abc").hex() == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"


def b3sum_check():
    """Checks every BLAKE3 value the vectors hold, and the tree's edge lengths, against b3sum."""
    b3 = shutil.which("b3sum")
    if not b3:
        print("b3sum not found: BLAKE3 checked only against the published hashes")
        return
    edges = [pattern(n) for n in (0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4097, 8193)]
    for data in edges + HASHED:
        out = subprocess.run([b3, "--no-names"], input=data, capture_output=True, check=True).stdout
        assert out.decode().strip() == _blake3(data).hex(), f"BLAKE3 of {len(data)} bytes disagrees with b3sum"
    ver = subprocess.run([b3, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"BLAKE3 agrees with {ver} on all {len(HASHED)} inputs hashed and {len(edges)} more")


# --- the rest of ferry's formats, from the spec --------------------------------


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n & (2**64 - 1))


def chunk_hashes(data, chunk):
    return [blake3(data[i : i + chunk]) for i in range(0, len(data), chunk)]


def file_hash(size, chunk, hashes):
    return blake3(b"ferryF01" + u64(size) + u64(chunk) + b"".join(hashes))


def have_digest(kept):
    return blake3(b"".join(u64(i) + h for i, h in kept))


def b64(b):
    return base64.b64encode(b).decode()


def body(obj):
    # encoding/json's compact form; none of the strings below has a
    # character that it escapes (<, >, &, U+2028, U+2029, control characters).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


COMMIT_LABEL = b"ferry/2 verification commit\x00"
CODE_LABEL = b"ferry/2 verification code\x00"
CODE_LIMIT = 2**64 - (2**64 % 10**6) - 1


def commitment(nonce):
    return hashlib.sha256(COMMIT_LABEL + nonce).digest()


def code_words(fields):
    x = hashlib.shake_256(CODE_LABEL + b"".join(u16(len(f)) + f for f in fields))
    out = x.digest(8 * 8)
    return [int.from_bytes(out[i : i + 8], "big") for i in range(0, len(out), 8)]


def code(fields):
    for w in code_words(fields):
        if w <= CODE_LIMIT:
            w %= 10**6
            return f"{w // 1000:03d}-{w % 1000:03d}"
    raise AssertionError("eight words above the limit")


# verify_test.go's inline vector, computed by someone else from the same text.
_a, _b = bytes(range(32)), bytes(0xFF - i for i in range(32))
_rep = lambda c: bytes([c]) * 32
assert code([_a, _b, _rep(1), _rep(2), _rep(3), _rep(4)]) == "060-808"
assert commitment(_rep(4)).hex() == "5b547d4ae1b1adf53cda173a6b300e566d5a65cc3e0fefc7e3aa82829a3eea1b"


def write(fname, comment, fields):
    lines = ["# " + l if l else "#" for l in comment.strip().split("\n")]
    for k, v in fields:
        for item in v if isinstance(v, list) else [v]:
            lines.append(f"{k}: {item}" if item != "" else f"{k}:")
    with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def hexlines(b, per=32):
    return [b[i : i + per].hex() for i in range(0, len(b), per)]


# --- one session's worth of values --------------------------------------------

ID1 = bytes.fromhex("06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9")  # RFC 8032 TEST 1
ID2 = bytes.fromhex("deb2ded39dc26fce0e6085b6fc34bf6b5941913bbfe2ea614113cff9e004c170")  # RFC 8032 TEST 2

CHUNK = 64 << 10
HELLO = b"hello, ferry\n"
BIG = pattern(150000)  # three chunks, the last short
HELLO_HASHES = chunk_hashes(HELLO, CHUNK)
BIG_HASHES = chunk_hashes(BIG, CHUNK)
TOKEN = bytes(range(0xA0, 0xB0))
NONCE_S = hashlib.sha256(b"sender nonce").digest()
NONCE_R = hashlib.sha256(b"receiver nonce").digest()
EXPORTER = hashlib.sha256(b"exporter").digest()

# --- hashes ---------------------------------------------------------------------

write(
    "filehash_empty_file.txt",
    """
An empty file has no chunks: its hash is BLAKE3-256 of "ferryF01",
u64 size 0 and u64 chunk size alone. Written by gen.py.
""",
    [("size", "0"), ("chunk", str(CHUNK)), ("file-hash", file_hash(0, CHUNK, []).hex())],
)
write(
    "filehash_one_chunk.txt",
    """
A 13-byte file ("hello, ferry\\n") in chunks of 64 KiB: one chunk, whose hash
is BLAKE3-256 of the bytes; the file hash is BLAKE3-256 of "ferryF01",
u64 size, u64 chunk size and that hash. Written by gen.py.
""",
    [
        ("data", HELLO.hex()),
        ("size", str(len(HELLO))),
        ("chunk", str(CHUNK)),
        ("chunk-hash", [h.hex() for h in HELLO_HASHES]),
        ("file-hash", file_hash(len(HELLO), CHUNK, HELLO_HASHES).hex()),
    ],
)
write(
    "filehash_three_chunks_last_short.txt",
    """
A file of 150000 bytes, byte i being i mod 251, in chunks of 64 KiB: three
chunks (65536, 65536 and 18928 bytes), each hashed with BLAKE3-256; the file
hash is BLAKE3-256 of "ferryF01", u64 size, u64 chunk size and the three
hashes in order. Written by gen.py.
""",
    [
        ("pattern-bytes", str(len(BIG))),
        ("size", str(len(BIG))),
        ("chunk", str(CHUNK)),
        ("chunk-hash", [h.hex() for h in BIG_HASHES]),
        ("file-hash", file_hash(len(BIG), CHUNK, BIG_HASHES).hex()),
    ],
)
KEPT = [(0, BIG_HASHES[0]), (2, BIG_HASHES[2])]
write(
    "havedigest_chunks_0_and_2.txt",
    """
The digest a receiver sends for chunks 0 and 2 that it kept of
filehash_three_chunks_last_short.txt's file: BLAKE3-256 of, for each kept
chunk in index order, u64 index and its hash. Written by gen.py.
""",
    [("kept", [f"{i} {h.hex()}" for i, h in KEPT]), ("digest", have_digest(KEPT).hex())],
)
write(
    "havedigest_chunk_1.txt",
    """
The digest of chunk 1 alone of the same file: an index other than 0 shows
in the digest. Written by gen.py.
""",
    [("kept", f"1 {BIG_HASHES[1].hex()}"), ("digest", have_digest([(1, BIG_HASHES[1])]).hex())],
)

# --- control frames --------------------------------------------------------------

MTIME = 1767225600 * 10**9  # 2026-01-01 00:00:00 UTC, in Unix nanoseconds
OFFER = {
    "v": 2,
    "name": "Zoë's laptop",
    "session": "00112233445566778899aabbccddeeff",
    "entries": [
        {"path": "photos", "dir": True, "size": 0, "mtime": MTIME},
        {"path": "photos/a.bin", "size": len(BIG), "chunk": CHUNK, "private": True, "mtime": MTIME + 123456789},
        {"path": "photos/run.sh", "size": len(HELLO), "chunk": CHUNK, "exec": True, "mtime": MTIME + 1},
        {"path": "notes.txt", "size": -1, "chunk": 4 << 20, "mtime": 0, "stream": True},
    ],
}
OFFER_BODY = body(OFFER)

frames = [
    (
        "frame_offer.txt",
        1,
        OFFER,
        """
An offer (type 1) of a folder, a private file in it, an executable file and
standard input: keys in the order doc.go lists them, those that are false
or zero left out (dir, chunk, exec, private, stream). offer-digest is
SHA-256 of the body, what the verification code covers.
""",
    ),
    (
        "frame_decision_accept.txt",
        2,
        {
            "accept": True,
            "token": b64(TOKEN),
            "name": "Desk",
            "have": [
                {"file": 1, "ranges": [[0, 1], [2, 3]], "digest": b64(have_digest(KEPT))},
                {"file": 2, "complete": True, "hash": b64(file_hash(len(HELLO), CHUNK, HELLO_HASHES))},
            ],
        },
        """
A decision (type 2) that accepts, with the token data streams present, the
receiver's name, chunks 0 and 2 kept of file 1 (their digest as in
havedigest_chunks_0_and_2.txt) and file 2 already complete (its hash as in
filehash_one_chunk.txt). Byte strings are base64.
""",
    ),
    (
        "frame_decision_refusal.txt",
        2,
        {"accept": False, "code": "declined", "reason": "not now", "name": "Desk"},
        """
A decision (type 2) that refuses: accept false, a code, a reason, the
receiver's name; no token, no have.
""",
    ),
    (
        "frame_plan.txt",
        3,
        {"restart": [1], "skip": [2]},
        """
A plan (type 3): file 1's kept chunks no longer match, file 2 is skipped.
""",
    ),
    (
        "frame_fileend.txt",
        4,
        {"file": 1, "size": len(BIG), "hash": b64(file_hash(len(BIG), CHUNK, BIG_HASHES))},
        """
A file end (type 4) of file 1 with its size and file hash (as in
filehash_three_chunks_last_short.txt), base64.
""",
    ),
    (
        "frame_filedone.txt",
        5,
        {"file": 1, "name": "photos/a (1).bin"},
        """
A file done (type 5): file 1 is under its final name, which was taken, so
"name (1).ext".
""",
    ),
    (
        "frame_error.txt",
        6,
        {"code": "internal", "message": "disk on fire"},
        """
An error frame (type 6): a code and a message.
""",
    ),
    (
        "frame_done.txt",
        7,
        {"files": 3, "bytes": len(BIG) + len(HELLO)},
        """
A done frame (type 7): files and bytes delivered.
""",
    ),
    (
        "frame_commit.txt",
        8,
        {"value": b64(commitment(NONCE_R))},
        """
A commit frame (type 8): the receiver's commitment to its nonce, SHA-256 of
"ferry/2 verification commit" 00 and nonce_R (as in
commitment_of_receiver_nonce.txt), base64.
""",
    ),
    (
        "frame_nonce.txt",
        9,
        {"value": b64(NONCE_S)},
        """
A nonce frame (type 9): the sender's 32-byte nonce, base64.
""",
    ),
    (
        "frame_reveal.txt",
        10,
        {"value": b64(NONCE_R)},
        """
A reveal frame (type 10): the receiver's 32-byte nonce, base64.
""",
    ),
]
for fname, typ, obj, comment in frames:
    b = body(obj)
    fields = [("type", str(typ)), ("prefix", f"{typ:02x} {len(b):08x}"), ("body", b.decode())]
    if typ == 1:
        fields.append(("offer-digest", hashlib.sha256(b).hexdigest()))
    write(fname, comment.strip() + "\nThe frame is prefix (type, u32 length) then body. Written by gen.py.", fields)

# --- data streams ------------------------------------------------------------------

write(
    "stream_hello.txt",
    """
The first bytes of a data stream: 0x10 and the 16-byte session token (the
decision's, as in frame_decision_accept.txt). Written by gen.py.
""",
    [("token", TOKEN.hex()), ("stream", "10 " + TOKEN.hex())],
)
hdr = (1, 2, len(BIG) - 2 * CHUNK)
write(
    "chunk_header.txt",
    """
The header of chunk 2 (18928 bytes) of file 1: 0x11, u32 file, u32 chunk,
u32 length, big-endian. Written by gen.py.
""",
    [
        ("file", str(hdr[0])),
        ("chunk", str(hdr[1])),
        ("length", str(hdr[2])),
        ("header", "11 " + " ".join(u32(x).hex() for x in hdr)),
    ],
)
write(
    "chunk_frame.txt",
    """
The whole frame of chunk 0 of file 2 ("hello, ferry\\n"): header, the bytes,
BLAKE3-256 of the bytes. Written by gen.py.
""",
    [
        ("file", "2"),
        ("chunk", "0"),
        ("data", HELLO.hex()),
        (
            "frame",
            [
                "11 " + " ".join(u32(x).hex() for x in (2, 0, len(HELLO))),
                HELLO.hex(),
                blake3(HELLO).hex(),
            ],
        ),
    ],
)

# --- verification code ---------------------------------------------------------------

write(
    "commitment_of_receiver_nonce.txt",
    """
The receiver's commitment: SHA-256("ferry/2 verification commit" 00 nonce).
Written by gen.py.
""",
    [("nonce", NONCE_R.hex()), ("commitment", commitment(NONCE_R).hex())],
)

OFFER_DIGEST = hashlib.sha256(OFFER_BODY).digest()


def code_case(fname, comment, sender, receiver, exporter, offer, ns, nr):
    fields = [sender, receiver, exporter, offer, ns, nr]
    words = code_words(fields)
    assert words[0] <= CODE_LIMIT  # see the note on the second word below
    write(
        fname,
        comment.strip()
        + f"\nSHAKE256's first 8-byte word is {words[0]:016x}, at most the limit, so"
        + f"\nthe code is {words[0]} mod 10^6. Written by gen.py.",
        [
            ("sender", sender.hex()),
            ("receiver", receiver.hex()),
            ("exporter", exporter.hex()),
            ("offer", offer.hex()),
            ("sender-nonce", ns.hex()),
            ("receiver-nonce", nr.hex()),
            ("code", code(fields)),
        ],
    )


code_case(
    "code_keys_1_and_2.txt",
    """
The code both screens show when RFC 8032 TEST 1's device (sender) offers
frame_offer.txt's body to TEST 2's (receiver), with frame_nonce.txt's and
frame_reveal.txt's nonces: SHAKE256("ferry/2 verification code" 00, then for
each of sender ID, receiver ID, exporter, SHA-256 of the offer body,
nonce_S, nonce_R: u16 length and the field).
""",
    ID1, ID2, EXPORTER, OFFER_DIGEST, NONCE_S, NONCE_R,
)
code_case(
    "code_roles_swapped.txt",
    """
The same inputs with the two device IDs swapped: the code is another.
""",
    ID2, ID1, EXPORTER, OFFER_DIGEST, NONCE_S, NONCE_R,
)
# The first input found, counting up a receiver nonce, whose code begins with
# two zeros in both halves.
for n in range(1, 10**6):
    nr = hashlib.sha256(b"receiver nonce %d" % n).digest()
    c = code([ID1, ID2, EXPORTER, OFFER_DIGEST, NONCE_S, nr])
    if c.startswith("00") and c[4:6] == "00":
        break
code_case(
    "code_zero_padded.txt",
    f"""
A receiver nonce (SHA-256 of "receiver nonce {n}") whose code has leading
zeros in both halves: each half is written with three digits.
""",
    ID1, ID2, EXPORTER, OFFER_DIGEST, NONCE_S, nr,
)
# A case for the second word (the first above the limit) is out of reach:
# a word is above it with probability (2^64 mod 10^6) / 2^64 = 551616 / 2^64,
# about 2^-44.9, so finding one takes some 2^45 SHAKE256 evaluations.
assert 2**64 % 10**6 == 551616

# --- text messages -----------------------------------------------------------------

TEXT = "Zoë: the meeting moved to room 4\r\n\tbring \x1b[1mslides\x1b[0m\n".encode()
TEXT_OFFER = {
    "v": 3,
    "name": "Zoë's laptop",
    "session": hashlib.sha256(TEXT).digest()[:16].hex(),
    "text": {"size": len(TEXT), "sha256": b64(hashlib.sha256(TEXT).digest())},
}
b = body(TEXT_OFFER)
write(
    "frame_offer_text.txt",
    """
An offer (type 1) of a text message: protocol 3, no entries, and text: the
size and SHA-256 (base64) of the text in the Text frame that follows (as in
text_frame.txt). session is the hex of the hash's first 16 bytes (not
checked). offer-digest is SHA-256 of the body: through the text's hash, the
verification code covers the text.
The frame is prefix (type, u32 length) then body. Written by gen.py.
""",
    [("type", "1"), ("prefix", f"01 {len(b):08x}"), ("body", b.decode()), ("offer-digest", hashlib.sha256(b).hexdigest())],
)
write(
    "text_frame.txt",
    """
The Text frame (type 11) that follows frame_offer_text.txt's offer: the
type, the text's length as a u32, and the text's UTF-8 bytes as they are
(not JSON): here with CRLF, a tab and escape sequences, which the receiver
escapes only when it shows them. sha256 is the hash the offer gives.
Written by gen.py.
""",
    [("prefix", f"0b {len(TEXT):08x}"), ("text", hexlines(TEXT)), ("sha256", hashlib.sha256(TEXT).hexdigest())],
)

write(
    "protocol_names.txt",
    """
The names a connection is negotiated and keyed under: the ALPN of this
protocol and of the one before it, and the TLS exporter's label and length
for the verification code. Written by gen.py.
""",
    [
        ("alpn", "ferry/2"),
        ("alpn-previous", "ferry/1"),
        ("exporter-label", "EXPORTER-ferry/2 verification"),
        ("exporter-length", "32"),
    ],
)
b3sum_check()
print("wire vectors written to", HERE)
