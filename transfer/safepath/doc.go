// Package safepath is the one guard between file names that arrive from the
// network and the receiver's file system. Nothing on the receiving side
// creates, opens or renames a file under a peer-supplied name unless that name
// has passed through this package.
//
// A name is a relative path with "/" separators, as a peer sends it in a
// manifest. [Check] accepts a single name only if it means the same thing on
// every platform ferry runs on: valid UTF-8 in NFC, no absolute, drive or
// backslash forms, no empty, "." or ".." components, no control, bidi or
// other invisible format characters, no Windows device names or ':' streams,
// bounded in length and depth, and not using the ".ferry-" prefix the
// receiver keeps for its own partial files and journals.
//
// A [Set] holds the names of one transfer and rejects names that would land
// on the same file on some file system: exact duplicates, names equal after
// NFC and Unicode case folding, a file and a directory of the same name, and
// a file that is also the parent of another entry.
//
// [MkdirAll] and [CheckParents] do the on-disk half: inside an [os.Root] they
// refuse to go through any existing path component that is a symlink or not a
// directory. [Display] renders an untrusted name for a terminal with every
// control, format and invalid byte escaped.
//
// All errors wrap [ErrUnsafePath] or [ErrPathCollision].
package safepath
