// Package store is ferry's receive store: it puts verified bytes into a
// receiving folder, whichever way they come in (a QUIC transfer today; a
// browser's upload or another receiver of a swarm next). It knows nothing
// of the network.
//
// A caller checks the entries of an incoming set (Check), opens the set
// under the folder (Open), and then, for each file: resumes what an earlier
// attempt kept (Incoming.Resume: journaled chunks, hashed again), takes
// chunks (File.Begin, Chunk.Write, Chunk.Commit against the chunk's
// expected hash, which journals it), sets the file's end (File.End), and
// once both say the file is ready, checks it against its file hash
// (Incoming.Prepare), flushes it (Incoming.Flush) and gives it its final
// name (Incoming.Name): never over another file unless Options.Overwrite,
// else "name (1).ext"; never over a folder or a symlink, even then.
//
// For a swarm, a verified chunk can be read back and is hashed again on
// the way (File.ReadVerified): from the partial file, or with
// Options.Serve from the complete file, whose descriptor is kept open
// after it is named (up to 64 files a set), until Close (serve.go).
//
// Every path comes through safepath (Check) and every file operation goes
// through an os.Root, so nothing is created outside the folder or through a
// symlink. Partial files and journals are created exclusively, owner-only;
// a leftover one is trusted only if it is one ferry could have made
// (partial_unix.go).
//
// # Locks
//
// In the order they may be taken:
//
//	File.opening    making or reopening the partial file (file system work)
//	Incoming.naming renaming a partial where there are no hard links
//	File.mu         the file's chunk table and state; no file system work under it
//	journal.mu      appending one record
//	Incoming.mu     the folder caches
//
// A File's state moves one way: receiving (chunks begin and commit; the
// end may come at any time) → finalizing (every chunk verified and the end
// in: the caller that saw ready prepares, flushes and names it) → done.
package store
