// Package web is ferry's page for web browsers: `ferry receive --web`
// serves it over plain HTTP on TCP, at the same port number as the QUIC
// receiver, so that a phone with nothing installed can send files to the
// computer. Every byte goes through the same receive store as a QUIC
// transfer (transfer/internal/store: the os.Root guard, per-chunk BLAKE3,
// the journal, the file hash, no overwrite, "name (1).ext") and every offer
// through the same consent (the receiver's policy and question).
//
// Send mode (ferry send --web: downloads, Range, a streamed zip) is
// specified in the comment at the top of download.go.
//
// # Authentication
//
// The URL is http://ADDR:PORT/#k=<secret>: the secret travels only in the
// fragment, and every API request carries a MAC made with a key derived
// from it (scheme "ferry-web/1", specified in the webauth package). The
// page and its static files need no MAC but are served only under one of
// the server's own Host values; responses carry no CORS header and every
// HTML response a strict Content-Security-Policy (CSP), nosniff,
// no-referrer and no-store.
//
// # The page
//
// static/receive.html loads hash-wasm's BLAKE3 and tus-js-client (both
// vendored, see static/vendor), auth.js (the page's half of the MAC) and
// receive.js, which offers the picked files and then sends each with a
// tus.Upload: its file reader has each chunk read and hashed in a worker
// (hashworker.js), and its onBeforeRequest adds X-Ferry-Chunk-Hash and the
// MAC to every HEAD and PATCH.
//
// # API (all under /api/v1, all with X-Ferry-Auth or a last auth= parameter)
//
//	POST /offer   Content-Type application/json, at most 16 MiB:
//	  {"client": "<32 lower-case hex: the browser's own random id, kept in local storage>",
//	   "files": [{"path": "dir/name.ext", "size": <bytes>, "mtime": <Unix ms>}, …]}   (1 to 10,000 files)
//	  The paths go through the store's Check (safepath) exactly as a QUIC
//	  offer's: one unsafe name refuses the offer (400 bad_offer). The
//	  offer is put to the receiver's policy: --accept all takes it,
//	  --accept trusted refuses it (a browser is never a paired device), ask
//	  asks on the computer's terminal, showing the sender as
//	  "web browser at ADDR", the names escaped, the count, the size, and a
//	  verification code that the page shows too:
//	    code = keyed-BLAKE3-256(K, "ferry-web/1 code\x00" ‖ BLAKE3-hex(body)),
//	    its first 8 bytes big-endian mod 10^6, as "123-456".
//	  A browser's partial files are its own: the store's sender ID is
//	  BLAKE3-256("ferry-web/1 browser\x00" ‖ client). An answer of yes is
//	  remembered for 15 minutes for the same source address, the same client
//	  and the same body, so a reloaded page that offers the same files is
//	  not asked about again (the question named the address; the client id
//	  travels in the clear, so it alone proves nothing).
//	  200 {"offer": id, "code", "chunk": <bytes per PATCH>,
//	       "files": [{"upload": "/api/v1/files/<id>-<i>", "offset": <bytes here>,
//	                  "kept": [[from, to), …] chunk ranges from an earlier try, "done": <nothing to send>}]}
//	  400 bad_offer, 403 declined, 503 busy (4 browsers, or another offer
//	  on the terminal), 507 no_space (more than the free space): {"error", "reason", "code"}.
//	  A new offer from the same client ends its earlier offer, whose
//	  uploads then get 404 (the new answer says where each file stands).
//
// Every API request with a missing, wrong or replayed MAC gets 401;
// once 20 of them have come from one address within a minute, every API
// request from it gets 429 for the rest of that minute (the page itself,
// which needs no MAC, is still served). A foreign Host gets 421 (not
// counted).
//
//	HEAD  /files/<id>-<i>   tus 1.0 (tusd): Upload-Offset, Upload-Length.
//	PATCH /files/<id>-<i>   tus 1.0: Tus-Resumable 1.0.0, Content-Type
//	  application/offset+octet-stream, Upload-Offset a multiple of the
//	  chunk size, the body exactly one chunk (the last one shorter), and
//	  X-Ferry-Chunk-Hash: the body's lower-case hex BLAKE3-256 (bound by
//	  the MAC). The chunk is written through the store and counts only
//	  once it matches that hash and is journaled: a torn or wrong body
//	  leaves Upload-Offset where it was (460 for a hash mismatch), and the
//	  page sends the chunk again. When a file's last chunk is in, the store
//	  checks the file hash over the verified chunk hashes, flushes the file
//	  and gives it its final name.
//
//	GET /events?offer=<id>&auth=…   server-sent events:
//	  event: file    {"index", "name" (final path in the folder), "size", "hash"} or {"index", "error"}
//	  event: done    {"files", "bytes"}
//	  event: failed  {"error"}   (the offer ended before every file was in)
//	  Every result so far is sent again on each connection; a MAC is good
//	  once, so the page reconnects with a fresh one.
//
// # Resuming
//
// The tus offset is the run of verified chunks from the start of the
// file. A dropped connection: the page asks HEAD and continues; a request
// still holding the upload (a Wi-Fi that went quiet mid-chunk) is ended
// as soon as another request for the same upload comes (lock.go), and its
// torn chunk does not count. A reloaded
// page: the user picks the files again, the page offers them again (same
// client id, same body: no second question) and the answer says where
// each file stands. A restarted receiver has a new secret, so the page
// says to scan the new code; the new offer finds the journal and the page
// sends only what is missing: at most the one chunk that was on the wire.
//
// # Limits
//
// 4 browsers at once (by source address and client id, forgotten after 2
// minutes of silence), 1 offer waiting for an answer, 10,000 files per
// offer, the offer's missing bytes within the folder's free space, 8
// PATCH requests written at once (more get 503 and retry; a PATCH whose
// body stalls holds its place until tusd's 30 s network timeout cuts it),
// a 30 s timeout on reading a request's header and on idle connections,
// an offer closed after 10 minutes without a request
// (its partial files stay). The HTTP server runs in goroutines of its own:
// a slow browser never holds up a QUIC sender.
package web
