// Package webauth authenticates the requests of ferry's web page (ferry
// receive --web, ferry send --web) over plain HTTP on a LAN.
//
// # Scheme "ferry-web/1"
//
// Each run draws a 16-byte secret S (crypto/rand). The page's URL carries it
// only in the fragment, which a browser never sends:
//
//	http://ADDR:PORT/#k=<S as lower-case RFC 4648 base32, no padding>
//
// Both sides derive the key (a plain, unkeyed BLAKE3, 32 bytes):
//
//	K = BLAKE3-256("ferry-web/1 key\x00" ‖ S)
//
// Every authenticated request proves knowledge of K, never sending K or S,
// with a header
//
//	X-Ferry-Auth: <nonce>.<mac>
//
// or, where a browser cannot set a header (a download link), with a query
// parameter auth=<nonce>.<mac> that must be the LAST parameter of the query.
// nonce is 16 random bytes as 32 lower-case hex characters, never reused;
// mac is 64 lower-case hex characters:
//
//	mac = keyed-BLAKE3-256(K, "ferry-web/1\x00" ‖ METHOD ‖ "\x00" ‖ TARGET ‖ "\x00" ‖ nonce ‖ "\x00" ‖ BODYBIND)
//
// TARGET is the request-target exactly as sent on the request line (path and
// query, percent-encoding untouched) with the auth parameter and the "&" or
// "?" before it removed; a query left empty loses its "?". BODYBIND binds the
// body:
//
//	tus PATCH:  the Upload-Offset header value ‖ "\x00" ‖ the X-Ferry-Chunk-Hash
//	            header value (lower-case hex BLAKE3-256 of the body; the
//	            server checks the body against it)
//	JSON POST:  lower-case hex BLAKE3-256 of the body (Content-Type
//	            application/json)
//	otherwise:  empty
//
// The server compares MACs in constant time and refuses a nonce it has seen
// before in this run (it remembers the last 65,536). Wrong, missing or
// replayed MACs are counted per source address: after 20 in a minute the
// address gets HTTP 429 for the rest of that minute. A Host header that is
// not one of the server's own ADDR:PORT (IPv6 bracketed; loopback's
// 127.0.0.1, [::1] and localhost count, as names that only ever mean this
// computer) is refused with 421 before anything else (DNS rebinding: a
// rebound name is the attacker's). testdata/vectors.json holds golden
// vectors a second implementation can check itself against.
package webauth
