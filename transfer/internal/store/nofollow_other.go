//go:build !unix

package store

// oNoFollow is not needed where the OS has no O_NOFOLLOW: os.Root already
// refuses a link that leaves the root, and the receiver checks every
// component (safepath.CheckParents) before it creates or names a file.
const oNoFollow = 0

// oNonBlock: no named pipes in the file system here.
const oNonBlock = 0
