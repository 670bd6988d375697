// Package transfer moves files and folders from one device to another over
// QUIC, in verified chunks, so that an interrupted transfer resumes where it
// stopped and never leaves a wrong file under its final name.
//
// # Connection
//
// QUIC (RFC 9000) with TLS 1.3, ALPN "ferry/1". Both sides present their
// self-signed device certificate; a device is its key (identity.DeviceID).
// The sender may pin the receiver's ID (tls.Config.VerifyConnection runs on
// every handshake). The receiver's QUIC stateless-reset key is derived from
// its device key, so a restarted receiver resets the connections of the
// process that died and senders reconnect at once.
//
// # Control stream
//
// The sender opens one bidirectional stream. Each frame is a type byte, a
// 4-byte big-endian length and a JSON body; the length is checked against a
// per-type cap (64 MiB for an offer, 16 MiB for a decision or plan, 64 KiB
// otherwise) before anything is allocated.
//
//	1 Offer     S→R  {v, name, session, entries:[{path, dir, size, chunk, exec, mtime, stream}]}
//	2 Decision  R→S  {accept, code, reason, token, name, have:[{file, ranges, digest} | {file, complete, hash}]}
//	3 Plan      S→R  {restart:[file…], skip:[file…]}
//	4 FileEnd   S→R  {file, size, hash}
//	5 FileDone  R→S  {file, name}
//	6 Error     both {code, message}: a fatal error; the connection closes
//	7 Done      R→S  {files, bytes}
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
// # Timeouts
//
// The offer must be complete within 20 s of the handshake and the plan
// within 10 minutes of the decision (the sender hashes what was kept). While
// some file is still incomplete, a sender that sends nothing for 10 minutes
// is cut off: QUIC keep-alives alone do not hold a session open.
//
// # Hashes
//
// A chunk's hash is BLAKE3-256 of its bytes. A file's hash is BLAKE3-256 of
// "ferryF01", the size and chunk size as big-endian u64, and the chunk hashes
// in order. The sender computes it from its source, the receiver from the
// bytes it wrote; FileEnd carries the sender's.
//
// # Receiving side
//
// Files are written through an os.Root into a hidden partial file next to
// the final name (.ferry-<key>.part, key derived from the sender's ID and the
// path) with a journal (.ferry-<key>.journal, see journal.go) of verified
// chunks. A file of one chunk has no journal (it is sent again whole) and,
// where the file system allows, no name either: it is an unnamed file
// (O_TMPFILE) until it is complete. A complete file is checked against the
// sender's file hash, given its mode and time, flushed (one syncfs for all
// the files that are waiting) and renamed with RENAME_NOREPLACE (an unnamed
// one linked) to its name, or "name (1).ext" and so on if that exists. On
// resume every journaled chunk is read back and hashed again before it is
// trusted.
//
// Connections close with an application error code that says why (see
// conn.go); a sender retries a lost connection and gives up on the others.
// A receiver that fails a session does not reset the sender's streams
// first, so the sender learns the reason from the close. Text a peer sends
// (reasons, messages) is escaped before it is shown.
package transfer
