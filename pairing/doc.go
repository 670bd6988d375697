// Package pairing lets two ferry devices learn each other's key once, by a
// 6-digit PIN or a QR code, so that later connections can pin it.
//
// The device that shows the PIN and QR code is the responder B: it opens a
// [Window]. The device where the user types the PIN or scans the code is the
// initiator A: it calls [Pair]. Both end with an [identity.Peer] for the
// other device; storing it in the trust store is the caller's job. The
// package never prints; it logs through log/slog when given a logger.
//
// This comment is the protocol specification, version 1.
//
// # Transport
//
// B listens on a UDP port with QUIC version 1. The TLS 1.3 handshake uses
// the ALPN protocol "ferry-pair/1" (which versions everything below), no
// session tickets and no 0-RTT. Both sides present their device
// certificate; there is no certificate authority:
//
//   - B requests a client certificate and accepts any.
//   - A, in PIN mode, accepts any server certificate: the PIN is what
//     authenticates it. In QR mode A accepts only a server whose device ID is
//     the one in the code, and otherwise aborts the handshake.
//
// A device ID is the SHA-256 of the certificate's DER SubjectPublicKeyInfo
// (32 bytes; see the identity package). fpA is the device ID of A's (the TLS
// client's) certificate, fpB that of B's (the TLS server's). Each side takes
// its own from its own certificate and the other's from the handshake. A
// device refuses to pair with its own key.
//
// sid, the CPace session identifier, is the TLS exporter of the connection:
//
//	sid = TLS-Exporter(label "EXPORTER-ferry-pair-v1", context none, 32 bytes)
//
// Two TLS sessions never share a sid, so a man in the middle that
// terminates TLS on each side leaves A and B with different sids (and
// different fpA/fpB); their CPace runs then cannot agree.
//
// # Frames
//
// A opens one bidirectional QUIC stream and the whole exchange runs on it;
// B allows one such stream and no unidirectional streams. Each message is a
// frame:
//
//	type    1 byte
//	length  2 bytes, unsigned big-endian: the payload's length
//	payload length bytes
//
// There are four frames, sent strictly in this order:
//
//	type  name   from  payload                           length
//	0x01  start  A→B   lv_cat(mode, Ya, ADa)             at most 1024
//	0x02  reply  B→A   MSGb = lv_cat(Yb, ADb)            at most 1024
//	0x03  Ta     A→B   Ta                                exactly 64
//	0x04  Tb     B→A   Tb                                exactly 64
//
// A receiver checks the type and the length against the table before
// reading the payload; any other type, or a length outside the limit, is a
// protocol error. lv_cat is CPace's concatenation of LEB128 length-prefixed
// strings (see package cpace); parsers accept only shortest-form lengths and
// no trailing bytes. The start payload is prepend_len(mode) followed by
// MSGa = lv_cat(Ya, ADa). mode is the ASCII string "pin" or "qr". Ya and Yb
// are 32-byte encoded ristretto255 elements.
//
// ADa and ADb, the associated data, are UTF-8 JSON objects of at most 512
// bytes: {"name":"<device name>","proto":1}. proto must be 1; unknown
// members are ignored. The name is 1 to 64 bytes of UTF-8 without control
// characters, bidirectional controls, line or paragraph separators, or space
// at either end. AD is authenticated by the key confirmation, not secret.
//
// # CPace
//
// Both sides run CPace, draft-irtf-cfrg-cpace-21, suite
// CPACE-RISTR255-SHA512, initiator-responder, A as initiator, with
//
//	PRS = the 6 ASCII digits of the PIN (mode "pin"), or
//	      the 26 ASCII characters of the QR code's secret (mode "qr")
//	CI  = lv_cat("ferry/pair/v1", mode, "A", fpA, "B", fpB)
//	sid = the TLS exporter value above
//
// CI binds the mode (so a PIN run and a QR run never agree, the "method
// confusion" lesson of Bluetooth) and both certificates in
// initiator-then-responder order. Each side computes its message
// lv_cat(Y, AD) and, from the other's, ISK as the draft specifies, aborting
// if the other's Y does not decode, if the shared point is the neutral
// element, or if the other's Y equals its own (a reflected message). Key
// confirmation follows:
//
//	mac_key = SHA-512("CPaceMac" || sid || ISK)
//	Ta      = HMAC-SHA512(mac_key, lv_cat(Ya, ADa))
//	Tb      = HMAC-SHA512(mac_key, lv_cat(Yb, ADb))
//
// The exchange:
//
//  1. A → B start. B aborts on a malformed frame, an unknown mode, an
//     invalid Ya or bad ADa.
//  2. B → A reply. A aborts likewise.
//  3. A → B Ta. B compares it with its own Ta in constant time. B sends
//     nothing keyed before Ta verified; if it does not verify the attempt
//     failed (a wrong PIN or code, or an attack).
//  4. B → A Tb, then B closes its side of the stream. At this point B has
//     paired: the peer is A's certificate, named by ADa.
//  5. A verifies Tb; A has paired with B's certificate, named by ADb. A
//     closes the connection with code 0x0. B waits up to 5 seconds for that
//     close, so that Tb is delivered, then closes the connection itself.
//
// ISK itself is never used; package cpace offers HKDF-SHA512 outputs of it
// should a later version need a key.
//
// # Ending a connection
//
// Every pairing connection ends with a QUIC CONNECTION_CLOSE whose
// application error code says why:
//
//	0x0  paired        A: Tb verified
//	0x1  busy          B: another attempt is in progress; try later
//	0x2  wrong secret  B: Ta did not verify; A: Tb did not verify
//	0x3  closed        B: this attempt failed and the window is now closed
//	0x4  expired       B: the window's time ran out
//	0x5  protocol      either: malformed or unexpected data
//	0x6  timeout       B: the attempt's deadline passed
//	0x7  canceled      either: the sender gave up (user cancel, window closed)
//
// The reason phrase is informational, but for one case: with 0x2, a
// window's reason phrase is "wrong PIN or code; N left", N being the failed
// attempts it still allows before it closes, which the initiator may show.
//
// # Limits
//
// A window (B) draws a fresh PIN (uniform in 000000-999999) and a fresh QR
// secret (128 bits) when it opens. Both are single-use: the window closes
// after the first success. It also closes
//
//   - when its lifetime ends (default 2 minutes), and
//   - after 3 failed attempts in total, whatever their source address.
//
// Only one attempt runs at a time; a connection that completes its
// handshake during another attempt is closed with code 0x1 and does not
// count. An attempt starts when B accepts a connection (after the TLS
// handshake) and has a deadline (default 15 seconds). An attempt that ends
// any other way than with a verified Ta — a wrong Ta, a malformed message, a
// disconnect, or the deadline — counts as failed. An attempt cut short
// because the window expired or was closed does not.
//
// An attacker thus gets one online guess per attempt (CPace reveals nothing
// to test a PIN offline) and at most 3 guesses per window: a chance of at
// most 3 in 10^6 to pair with a window by guessing its PIN.
//
// # QR code
//
// The QR code's text (see [Code]) is
//
//	FERRY:1/<addr>[,<addr>...]/<fpB>/<secret>
//
// in upper case, so that the QR code uses alphanumeric mode: one to eight
// addresses, each an IPv4 address and port or a bracketed IPv6 address (no
// zone) and port, written as Go's netip.AddrPort prints them, upper-cased;
// fpB as 52 characters of unpadded RFC 4648 base32 without dashes; and the
// secret as 26 characters of base32 (crypto/rand.Text). A reader rejects
// any other spelling. [QRTerminal] and [QRPNG] render it.
package pairing
