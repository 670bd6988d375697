#!/usr/bin/env python3
"""Computes identity's golden vectors from the written spec, not from ferry's code.

Run it from anywhere with python3 (standard library only); it rewrites the
*.txt files beside it. The tests read those files and never run this script.

What the vectors follow:
  - identity/doc.go: "A DeviceID is the SHA-256 of the certificate's
    SubjectPublicKeyInfo, written as unpadded base32 in dash-separated groups
    of four."  deviceid.go: Short is "the first two groups"; base32 is the
    standard alphabet (RFC 4648), and only the canonical spelling parses.
  - RFC 8032 (Ed25519): the public key of a 32-byte seed. The functions
    below are the RFC's own Python (section 6), shortened.
  - RFC 8410: the DER SubjectPublicKeyInfo of an Ed25519 key.
  - identity.go's comment on Device.Secret ("a hash of the private key under
    a purpose label"); the exact layout is written only in the code:
    SHA-256("ferry device secret v1\\0" || purpose || "\\0" || seed).

If openssl is on PATH, the SPKI and the certificate's key are checked
against it too.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# --- RFC 8032, section 6 (public key and signing only) ---------------------

p = 2**255 - 19
q = 2**252 + 27742317777372353535851937790883648493


def modp_inv(x):
    return pow(x, p - 2, p)


d = -121665 * modp_inv(121666) % p
modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def point_add(P, Q):
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def point_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q


def recover_x(y, sign):
    x2 = (y * y - 1) * modp_inv(d * y * y + 1)
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x & 1) != sign:
        x = p - x
    return x


g_y = 4 * modp_inv(5) % p
g_x = recover_x(g_y, 0)
G = (g_x, g_y, 1, g_x * g_y % p)


def point_compress(P):
    zinv = modp_inv(P[2])
    x, y = P[0] * zinv % p, P[1] * zinv % p
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def secret_expand(secret):
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def secret_to_public(secret):
    a, _ = secret_expand(secret)
    return point_compress(point_mul(a, G))


def sha512_modq(s):
    return int.from_bytes(hashlib.sha512(s).digest(), "little") % q


def sign(secret, msg):
    a, prefix = secret_expand(secret)
    A = point_compress(point_mul(a, G))
    r = sha512_modq(prefix + msg)
    Rs = point_compress(point_mul(r, G))
    h = sha512_modq(Rs + A + msg)
    s = (r + h * a) % q
    return Rs + int.to_bytes(s, 32, "little")


# --- DER (just enough for an SPKI and a small certificate) -----------------


def der(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def seq(*parts):
    return der(0x30, b"".join(parts))


OID_ED25519 = der(0x06, bytes([0x2B, 0x65, 0x70]))  # 1.3.101.112
ALG_ED25519 = seq(OID_ED25519)  # RFC 8410: parameters absent


def spki(pub):
    return seq(ALG_ED25519, der(0x03, b"\x00" + pub))


def name(cn, org):
    def rdn(oid, value):
        return der(0x31, seq(der(0x06, oid), der(0x0C, value.encode())))

    return seq(rdn(bytes([0x55, 0x04, 0x0A]), org), rdn(bytes([0x55, 0x04, 0x03]), cn))


def certificate(seed, pub):
    """A self-signed X.509 v3 certificate like ferry's, without extensions."""
    n = name("ferry device", "ferry")
    tbs = seq(
        der(0xA0, der(0x02, b"\x02")),  # version v3
        der(0x02, b"\x01"),  # serial 1
        ALG_ED25519,
        n,
        seq(der(0x17, b"260101000000Z"), der(0x17, b"460101000000Z")),
        n,
        spki(pub),
    )
    return seq(tbs, ALG_ED25519, der(0x03, b"\x00" + sign(seed, tbs)))


# --- device IDs --------------------------------------------------------------


def id_text(id_):
    s = base64.b32encode(id_).decode().rstrip("=")
    assert len(s) == 52
    return "-".join(s[i : i + 4] for i in range(0, len(s), 4))


def groups(b, per_line=32):
    return [b[i : i + per_line].hex() for i in range(0, len(b), per_line)]


# --- cross-checks --------------------------------------------------------------

# RFC 8032, section 7.1, TEST 1 and TEST 2: seed, public key, and TEST 1's
# signature of the empty message.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    ),
]
for seed_hex, pub_hex in RFC8032:
    assert secret_to_public(bytes.fromhex(seed_hex)).hex() == pub_hex
assert sign(bytes.fromhex(RFC8032[0][0]), b"").hex() == (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def openssl_check(seed, pub, cert):
    """Compares the SPKI with openssl's, for the key and for the certificate."""
    if not shutil.which("openssl"):
        print("openssl not found: SPKI not cross-checked")
        return
    pkcs8 = seq(der(0x02, b"\x00"), ALG_ED25519, der(0x04, der(0x04, seed)))
    with tempfile.TemporaryDirectory() as tmp:
        k, c = os.path.join(tmp, "k.der"), os.path.join(tmp, "c.der")
        open(k, "wb").write(pkcs8)
        open(c, "wb").write(cert)
        out = subprocess.run(
            ["openssl", "pkey", "-inform", "DER", "-in", k, "-pubout", "-outform", "DER"],
            check=True, capture_output=True).stdout
        assert out == spki(pub), "openssl disagrees on the SPKI of the key"
        pem = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-in", c, "-noout", "-pubkey"],
            check=True, capture_output=True, text=True).stdout
        b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
        assert base64.b64decode(b64) == spki(pub), "openssl disagrees on the certificate's SPKI"
    print("openssl agrees on the SPKI")


# --- the vectors -------------------------------------------------------------


def write(fname, comment, fields):
    lines = ["# " + l if l else "#" for l in comment.strip().split("\n")]
    for k, v in fields:
        for item in v if isinstance(v, list) else [v]:
            lines.append(f"{k}: {item}")
    with open(os.path.join(HERE, fname), "w") as f:
        f.write("\n".join(lines) + "\n")


def device_fields(seed):
    pub = secret_to_public(seed)
    s = spki(pub)
    id_ = hashlib.sha256(s).digest()
    return pub, s, id_


for n, (seed_hex, _) in enumerate(RFC8032, 1):
    seed = bytes.fromhex(seed_hex)
    pub, s, id_ = device_fields(seed)
    write(
        f"deviceid_rfc8032_key{n}.txt",
        f"""
The device ID of the Ed25519 key of RFC 8032 section 7.1, TEST {n}: SHA-256 of
the DER SubjectPublicKeyInfo (RFC 8410) of the public key; as text, unpadded
base32 in groups of four; short, the first two groups. Written by gen.py.
""",
        [
            ("seed", seed.hex()),
            ("public-key", pub.hex()),
            ("spki", s[:12].hex() + " " + s[12:].hex()),
            ("id", id_.hex()),
            ("text", id_text(id_)),
            ("short", id_text(id_)[:9]),
        ],
    )

# A certificate of key 1: its ID is that of its key, whatever else it says.
seed1 = bytes.fromhex(RFC8032[0][0])
pub1, spki1, id1 = device_fields(seed1)
cert1 = certificate(seed1, pub1)
openssl_check(seed1, pub1, cert1)
write(
    "deviceid_certificate_is_its_key.txt",
    """
A self-signed certificate (X.509 v3, CN "ferry device", O "ferry", serial 1,
2026-01-01 to 2046-01-01, no extensions) of RFC 8032's TEST 1 key: its device
ID is the hash of its SubjectPublicKeyInfo, the same as
deviceid_rfc8032_key1.txt's, not a hash of the certificate. Written by gen.py.
""",
    [("certificate", groups(cert1)), ("id", id1.hex()), ("text", id_text(id1))],
)

# The text of an ID ends with a character of which only 1 bit belongs to the
# ID (52 * 5 = 260 bits for 256); the other 4 must be zero.
t = id_text(id1).replace("-", "")
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
last = alphabet.index(t[-1])
bad = t[:-1] + alphabet[last ^ 1]
write(
    "deviceid_fail_spare_bits_set.txt",
    """
Key 1's ID with a spare bit of its last character set: it decodes to the same
256 bits, but only the canonical spelling is an ID, so parsing fails.
Written by gen.py.
""",
    [("text", "-".join(bad[i : i + 4] for i in range(0, len(bad), 4)))],
)

purpose = "quic stateless reset"
secret = hashlib.sha256(b"ferry device secret v1\x00" + purpose.encode() + b"\x00" + seed1).digest()
write(
    "secret_quic_stateless_reset_key1.txt",
    """
The secret that RFC 8032 TEST 1's key derives for QUIC stateless resets
(transfer: a restarted receiver resets the connections of the process that
died, so this must stay the same across versions):
SHA-256("ferry device secret v1" 00 purpose 00 seed). Written by gen.py.
""",
    [("seed", seed1.hex()), ("purpose", purpose), ("secret", secret.hex())],
)
print("identity vectors written to", HERE)
