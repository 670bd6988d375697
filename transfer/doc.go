// Package transfer moves files and folders from one device to another over
// QUIC, in verified chunks, so that an interrupted transfer resumes where it
// stopped and never leaves a wrong file under its final name.
//
// # Where things are
//
// A chunk is read off a data stream in receiver_data.go (readChunk); it is
// written to the partial file and verified against its hash in
// internal/store/chunk.go (Chunk.Write, Chunk.Commit), journaled in
// internal/store/journal.go, checked against the file hash in
// internal/store/final.go (Incoming.Prepare), flushed and given its final
// name there too (Incoming.Name), driven by receiver_finalize.go. The
// store knows nothing of QUIC: it is the one way verified bytes get into
// the receiving folder.
//
//	receiver.go            Receiver, Listen, Serve: the accept loop
//	receiver_admission.go  how many connections, offers and sessions at once
//	receiver_offer.go      reading and checking an offer; the verification code
//	receiver_policy.go     accept, decline or ask
//	receiver_registry.go   running sessions: tokens, further connections, partial files
//	receiver_session.go    one session: decision, resume, plan, data phase
//	receiver_data.go       data streams and FileEnd frames into the store
//	receiver_finalize.go   complete files flushed, named and reported
//	receiver_text.go       a text message: read, decided, reported
//	sender*.go             the other side: dial, handshake, plan, data streams
//	control.go             the control stream, for both sides
//	internal/wire          the protocol's bytes: frames, hashes, verification code
//	internal/store         the receive store: partial files, journals, final names
//	sender_many.go         SendMany: several receivers, one manifest, a shared read cache
//	swarm_sender.go        the sender's swarm: who is handed each chunk first, Have, Want
//	swarm_fetch.go         a receiver's swarm: Swarm and Have frames, fetching from peers
//	swarm_serve.go         serving peers: ferry-swarm/1 connections and their refusals
//
// # Connection
//
// QUIC (RFC 9000) with TLS 1.3, ALPN "ferry/2". Both sides present their
// self-signed device certificate; a device is its key (identity.DeviceID).
// The sender may pin the receiver's ID (tls.Config.VerifyConnection runs on
// every handshake). The receiver's QUIC stateless-reset key is derived from
// its device key, so a restarted receiver resets the connections of the
// process that died and senders reconnect at once.
//
// Both sides also offer ALPN "ferry/1", the protocol before the
// verification code below, only to tell an old peer to update: a receiver
// that negotiates it answers the old offer with a Decision {accept: false,
// code: "version"} saying so, and a sender that negotiates it closes with
// code 11 (version) and tells its user which computer to update.
//
// # Control stream
//
// The sender opens one bidirectional stream. Each frame is a type byte, a
// 4-byte big-endian length and a JSON body; the length is checked against a
// per-type cap (32 MiB for an offer, 16 MiB for a decision or plan, 256
// bytes for the verification frames, 64 KiB otherwise) before anything is
// allocated.
//
//	1 Offer     S→R  {v: 2, name, session, entries:[{path, dir, size, chunk, exec, private, mtime, stream}]}
//	8 Commit    R→S  {value: SHA-256("ferry/2 verification commit\x00" ‖ nonce_R)}
//	9 Nonce     S→R  {value: nonce_S}     (32 random bytes)
//	10 Reveal   R→S  {value: nonce_R}     (32 random bytes)
//	2 Decision  R→S  {accept, code, reason, token, name, have:[{file, ranges, digest} | {file, complete, hash}]}
//	3 Plan      S→R  {restart:[file…], skip:[file…]}
//	4 FileEnd   S→R  {file, size, hash}
//	5 FileDone  R→S  {file, name}
//	7 Done      R→S  {files, bytes}
//	6 Error     both {code, message}: not sent by this version; one that
//	                 arrives is shown (escaped) and ends the session
//
// In that order: after the offer the receiver answers either with a
// refusal (a Decision, accept false) or with Commit; an accepting Decision
// comes only after Reveal, and a sender refuses one that does not. Byte
// strings (value, token, digest, hash) are base64 in JSON; session is the
// sender's hex digest of its manifest (not checked by the receiver); mtime
// is Unix nanoseconds; file is an index into entries. A key given twice
// (matched as encoding/json matches keys) breaks the protocol. Decision codes: "declined", "not-trusted",
// "busy" (try again later), "no-space", "version" (the two sides speak
// different protocols). "private" says the source grants nothing to group
// or others; the receiver then keeps the file owner-only (0600, 0700 if
// exec). An offer of files lists at least one entry, and a name (if any) that
// identity.CheckName accepts: visible, no control characters, at most 63
// bytes.
//
// # Text messages
//
// A text message (receiver_text.go, sender_text.go, internal/wire/message.go)
// is an offer of protocol 3 with no entries and a text field, and right
// after it, in the same write, a Text frame:
//
//	1 Offer     S→R  {v: 3, name, session, text: {size, sha256}}
//	11 Text     S→R  the text's bytes as they are (not JSON)
//
// size is the text's length in bytes, 1 to 65536; sha256 its SHA-256
// (base64). The receiver checks the offer, then the Text frame's header:
// its type must be 11 and its length the offer's size, before anything is
// allocated; then the bytes must hash to sha256 and be valid UTF-8. An
// offer of protocol 3 that also lists entries, an offer of protocol 2 with
// a text, or a Text frame anywhere else (11 is not a type the control
// stream knows) breaks the protocol. Through the hash, the offer digest,
// and so the verification code and a remembered acceptance, cover the
// text. session is the hex of the hash's first 16 bytes (not checked).
//
// The rest is as for files, up to the decision: Commit, Nonce, Reveal, the
// same policy and question. An accepting Decision carries no token and no
// have, and ends the session: the receiver has shown the text before it
// sends it, and the sender closes (code 0). Nothing else flows. An
// acceptance of a text is not remembered: the same text sent again is
// asked about again.
//
// Why protocol 3: a receiver of protocol 2 skips keys it does not know, and
// would see an offer of nothing. Instead it refuses the version it does not
// speak with a Decision {accept: false, code: "version"} that tells the
// sender's user to update ferry on the receiving computer. Offers of files
// stay protocol 2, so that older receivers still take them.
//
// # Verification code
//
// Both screens show a 6-digit code, "123-456", for the two people to
// compare before the receiver accepts an unpaired sender. It is derived
// from per-session randomness committed before it is revealed, so a man in
// the middle who completes a session with each side gets matching codes
// with probability 10^-6 per attempt, and has nothing to compute offline:
//
//	code = the first 8-byte big-endian word w of
//	       SHAKE256("ferry/2 verification code\x00" ‖ for each field: u16 length ‖ field)
//	       with w ≤ 2^64 − (2^64 mod 10^6) − 1 (else the next word), as w mod 10^6
//	fields = sender ID, receiver ID (32 bytes each), the TLS exporter
//	         ("EXPORTER-ferry/2 verification", no context, 32 bytes),
//	         SHA-256 of the offer frame's body as sent, nonce_S, nonce_R
//
// The receiver computes the code when the Nonce arrives and shows it (with
// the question, under --accept ask) as it sends Reveal; the sender checks
// that nonce_R opens the commitment and shows its code. An attacker must
// send its nonce to the receiver before it learns nonce_R, so the
// receiver's code is random to it, and every attempt against the receiver
// is a question on its screen. The attacker does learn the sender's code
// before revealing, and could drop the attempts that do not suit it, so a
// sender never reconnects before the receiver has accepted, except when
// the receiver says it is busy, and then shows the new code. An acceptance
// is remembered for 15 minutes for the sender's key and the digest of the
// offer's bytes: a reconnect of the same send is not asked again, any other
// offer is.
//
// Paths are relative, "/"-separated, NFC, and pass safepath.Set (no "..",
// no absolute or drive paths, no backslashes or control characters, no two
// names equal after case folding, nothing nested under a file). A file of
// size S in chunks of C bytes (a power of two, 64 KiB–256 MiB) has
// ceil(S/C) chunks. A streamed entry (standard input) has size -1 until its
// FileEnd.
//
// The decision lists what the receiver kept from earlier attempts: for each
// partly received file, the verified chunk ranges and a digest of their
// hashes; for a file already present under its final name with the offered
// size and time, its file hash. The sender hashes the same chunks of its
// source and answers with a plan: files whose kept chunks no longer match
// restart; files already complete are skipped. Only then does data flow.
//
// # Data streams and connections
//
// The sender opens up to 15 unidirectional streams, spread over the control
// connection and up to 3 further connections to the same receiver (each QUIC
// connection has its own congestion controller, so one loss halves only a
// part of the sending rate). A further connection must present the same
// device key; its first stream names the session by its token, and the
// receiver refuses a token of no running session of that device. Each
// stream starts with 0x10 and the 16-byte session token from the decision,
// then carries chunks:
//
//	0x11 | u32 file | u32 chunk | u32 length | length bytes | BLAKE3-256(bytes)
//
// The receiver checks the index and length against the offer, refuses a
// chunk it has or is receiving, or of a file the plan skips, writes the
// bytes at chunk×C of the partial file while hashing them, and compares the
// trailing hash. A data stream may end (FIN) only between chunks; the
// control stream is never closed by the sender. Either ending elsewhere, an
// unknown frame type, or a frame out of place is a protocol violation that
// ends the session.
//
// # Several receivers
//
// SendMany (ferry send --to A --to B …, --all) runs one session per
// receiver at once, each exactly as above: its own offer bytes, code,
// decision, plan and resume. The paths are listed once, and a chunk read
// and hashed for one session is kept (up to 64 MiB, 8 MiB with a swarm;
// oldest first out) for the others that send it at about the same time.
//
// # Swarm
//
// With two receivers or more, the offer carries "swarm": true. A receiver
// that takes part answers with "swarm": true in its accepting Decision;
// any other gets the ordinary session above. With a receiver in the
// swarm, after the Plan, the control stream also carries:
//
//	12 Swarm  S→R  {token, peers:[{id, addrs:[host:port…]}]}   (cap 1 MiB)
//	13 Have   S→R  {file, chunk, hash, holder, holders}         (cap 64 KiB)
//	14 Want   R→S  {file, chunk, alt}                           (cap 64 KiB)
//	15 Got    R→S  {file, chunk}                                (cap 64 KiB)
//
// Swarm gives the swarm's token (16 random bytes, the same for every
// receiver of the send) and the receivers in it: device ID (text), and
// the address the sender reached it at. A later Swarm frame adds to the
// list; the token never changes. At most 64 peers of up to 8 addresses of
// up to 64 bytes.
//
// The sender puts each chunk on the wire once, to the receiver whose data
// stream asks for work first (a stream asks once QUIC has taken its last
// chunk, so this is the receiver taking bytes soonest: the shortest queue
// in time, with no estimate to go stale), and no receiver is handed more
// than 2 chunks first beyond the one handed the fewest (so each re-serves
// about an equal share). Once a chunk has gone out, every other receiver in the
// swarm that needs it gets a Have naming the chunk, its BLAKE3-256 hash
// and its holder; a receiver that joins later gets a Have for each chunk
// it needs that a connected receiver holds (its kept chunks make it a
// holder too). A FileEnd goes to every receiver once the hash of every
// chunk of the file is known. A receiver never gets a chunk both on a
// data stream and in a Have.
//
// A Have of a chunk outside the offer's files, or without a 32-byte hash,
// is a protocol violation: the receiver ends the session. A receiver
// fetches each chunk a Have names from its holder and accepts it only if
// it matches the Have's hash. It asks the sender with Want,
// and the sender then sends the chunk on a data stream, when the holder
// is not in the list, cannot be reached, answers nothing for 3 s (the
// peer is dropped: everything it was to give is wanted), serves a chunk
// that does not match (the peer is banned for the session, likewise), or
// has still not verified the chunk 10 s after the Have, or no longer
// serves it (a receiver keeps up to 64 complete files open to serve
// from; chunks of the others are "not any more"). A receiver that
// verified a chunk fetched from a peer says so with Got: it holds it too.
// A Want of a chunk the receiver holds (it was sent it, or said Got) is
// ignored. The sender answers a Want with a Have naming a connected holder the
// receiver was not yet told of for that chunk, if there is one; else it
// sends the chunk, to the first receiver that wants it if its holders are
// all gone, and answers the others' Wants meanwhile with a Have naming
// that receiver once it has gone out. A receiver that has everything
// (Done sent) keeps serving until the sender closes its connection, which
// it does once no receiver of the swarm is still receiving or reconnecting
// (a session that lost its connection before it had everything, while it
// tries again), or 30 s after the last request.
//
// Order and endgame. holders in a Have is how many connected receivers
// the sender knows to hold the chunk when it sends the Have (it learns of
// a holder when it sends it the chunk, from its kept chunks, and from
// Got); absent or 0 (an older sender) reads as 1. A receiver asks first
// for the chunks with the fewest holders, then the ones announced first,
// with at most 4 MiB of asks outstanding to one peer. Once fewer than 8
// chunks are still to come, a receiver sends, for each chunk it is
// fetching from a peer, a Want with alt: true (only to a sender whose
// Haves carry holders: an older one would send the chunk); the sender
// answers with a Have naming another connected holder the receiver was
// not yet told of, or not at all, and never sends the chunk for it. The
// receiver then asks that holder too, keeps the first answer that
// verifies and reads the other past; if one of the two fails, the other
// goes on alone.
//
// A sender that has received nothing on a receiver's connections for 1 s
// sends it the Swarm frame again: it must be acknowledged, and it is large
// enough that a receiver restarted on the same port answers it with a
// stateless reset (a keep-alive PING is too small for one, RFC 9000
// §10.3), so that the session reconnects and resumes at once rather than
// at the idle timeout. A receiver from which nothing has come for 3 s is
// silent for the swarm: no further Have names it as a holder (a Want for
// a chunk only it held is answered with the chunk, sent to that receiver,
// who then serves the others), the sender stops waiting for it when it
// hands chunks out first, and a chunk handed to it first that has not gone
// out is handed to another. It is taken back when something comes from it
// again. A receiver that answers but takes no data — chunks were handed
// to it first, and its connections carried under 64 KiB in 3 s (it
// stopped reading its data streams) — is treated as silent likewise,
// until data flows to it again. Its session is not ended for that: the
// sender gives up on a receiver only as it does with a single one
// (Timeouts). Receivers
// likewise drop a peer that does not complete its handshake, or answer an
// ask, within 3 s.
//
// Receivers connect to one another on their receiving port, QUIC with TLS
// 1.3 as above, ALPN "ferry-swarm/1", each presenting its device
// certificate; the fetcher pins the key the sender listed. The fetcher
// opens one bidirectional stream and writes
//
//	0x20 | token (16 bytes)                       hello, first
//	0x21 | u32 file | u32 chunk                   ask, any number
//
// and the server answers each ask, in order, with
//
//	0x22 | u8 status | u32 length | length bytes  status 0: the chunk
//	                                              status 1: not yet (length 0)
//	                                              status 2: not any more (length 0)
//
// The server answers only a hello whose token is that of one of its
// running swarm sessions and a key that session's sender listed, and only
// with chunks of that session verified in its store, read back and hashed
// again before they leave. The asker knows each chunk's length from its
// own offer; any other length is a protocol violation. Everything else
// closes the connection with a code and no data:
//
//	20  no running swarm session here has that token
//	21  the key is not one the sender listed for the session
//	22  a chunk outside the session's files (an entry that is not a
//	    file, a chunk past the file's end)
//	23  more than 4 MiB of chunks asked and not yet answered (one chunk,
//	    however large, may always be asked)
//	24  a malformed swarm stream (no hello within 5 s, an unknown frame)
//
// A peer that stops reading its answers has at most 4 MiB outstanding;
// QUIC flow control holds the rest. A swarm connection counts as unproven
// (see Admission) until its hello names a running session that lists its
// key.
//
// # Timeouts
//
// The offer and the sender's nonce must be in within 20 s of the handshake
// and the plan within 10 minutes of the decision (the sender hashes what
// was kept). While some file is still incomplete, a sender that sends
// nothing for 10 minutes is cut off: QUIC keep-alives alone do not hold a
// session open. The other way, a sender gives up (ErrInterrupted: running
// it again resumes) when the receiver has taken no data and confirmed
// nothing for 2 minutes (SendOptions.StallTimeout).
//
// # Admission
//
// A receiver handles at most 256 connections at once. Of these, at most 32
// may be unproven, oldest closed first (code 8, busy) to make room: from
// the handshake until its offer is admitted or put to the user (a refusal,
// which waits up to 2 s for the sender to read it, included), or for a
// further connection until it joined a running session. At most 8 further
// connections may wait for one session to start, at most 4 offers wait for
// the user's answer, and 4 sessions run at once; beyond that the answer is
// "busy", unless a running session has had nothing from its sender (no
// plan, no data) for 30 s: that one is closed as busy (its sender may
// resume later) and the new one takes its slot. Offers over 64 KiB are
// decoded as they arrive, one at a time, and share a budget of 16 MiB of
// offer bytes until they are decided (a larger offer takes all of it):
// offers nobody accepted hold at most 128 MiB.
//
// # Hashes
//
// A chunk's hash is BLAKE3-256 of its bytes. A file's hash is BLAKE3-256 of
// "ferryF01", the size and chunk size as big-endian u64, and the chunk hashes
// in order. The sender computes it from its source, the receiver from the
// bytes it wrote; FileEnd carries the sender's. A Have's digest is
// BLAKE3-256 over, for each kept chunk in order, its index as big-endian
// u64 and its hash. Golden vectors of these, of every frame and of the
// verification code are in internal/wire/testdata/golden.
//
// # Receiving side
//
// Files are written through an os.Root into a hidden partial file next to
// the final name (.ferry-<key>.part, key = the first 15 bytes of
// BLAKE3-256("ferry partial v1\x00" ‖ sender ID ‖ path), lower-case base32
// without padding) with a journal (.ferry-<key>.journal, format in
// internal/store/journal.go) of verified chunks. Both are created by
// ferry, exclusively (O_CREAT|O_EXCL|O_NOFOLLOW), mode 0600; a leftover one is trusted only if it is a regular file with one
// link, owned by the receiving user and writable by nobody else, and is
// removed otherwise. A file of one chunk has no journal (it is sent again
// whole) and, where the file system allows, no name either: it is an
// unnamed file (O_TMPFILE) until it is complete. A complete file is checked
// against the sender's file hash, given its mode and time, flushed (one
// syncfs for all the files that are waiting) and its open descriptor is
// linked to its name (never replacing one), or "name (1).ext" and so on
// (the stem cut at a character boundary to fit 255 bytes) if that exists;
// where there are no hard links, the partial is renamed with
// RENAME_NOREPLACE and checked to be the same file. On resume every
// journaled chunk is read back and hashed again before it is trusted.
//
// Connections close with an application error code that says why (see
// conn.go); a sender retries a lost connection and gives up on the others.
// A receiver that fails a session does not reset the sender's streams
// first, so the sender learns the reason from the close. Text a peer sends
// (reasons, messages) is escaped before it is shown.
package transfer
