//go:build linux

package store

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new inside dir, failing with fs.ErrExist
// if new exists: the check and the rename are one atomic step.
func renameNoReplace(dir *os.File, old, new string) error {
	err := unix.Renameat2(int(dir.Fd()), old, int(dir.Fd()), new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return renameCheckThenReplace(dir, old, new) // filesystems without RENAME_NOREPLACE
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// renameReplace renames old to new inside dir, replacing a file at new.
func renameReplace(dir *os.File, old, new string) error {
	if err := unix.Renameat(int(dir.Fd()), old, int(dir.Fd()), new); err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// syncFS flushes the whole file system that holds dir: one call instead of an
// fsync per small file.
func syncFS(dir *os.File) error {
	if err := unix.Syncfs(int(dir.Fd())); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	return nil
}

// freeSpace returns the bytes available to an unprivileged user under path.
func freeSpace(path string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// isNoSpace reports whether err is a full disk or exhausted quota.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// openIn opens rel (relative to root) by its last component inside the
// open folder dir, which is rel's folder.
func openIn(_ *os.Root, dir *os.File, rel string, flag int, perm os.FileMode) (*os.File, error) {
	name := path.Base(rel)
	for {
		fd, err := unix.Openat(int(dir.Fd()), name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err == unix.EINTR {
			continue // as package os does: Go's preemption signals cause it on FUSE and SMB mounts
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), path.Join(dir.Name(), name)), nil
	}
}

// removeIn removes the name of rel (relative to root) inside the open
// folder dir, which is rel's folder, if it is there. Only the name goes: a
// hard link or symlink there is unlinked, never followed.
func removeIn(_ *os.Root, dir *os.File, rel string) {
	unix.Unlinkat(int(dir.Fd()), path.Base(rel), 0)
}

// existsIn reports whether name is taken inside dir (a symlink there is
// not followed).
func existsIn(dir *os.File, name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	return true, nil
}

// fdLimit is the process's limit on open files (0 if unknown).
func fdLimit() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}

// tmpLinkable reports whether linkFile can work: it needs /proc.
func tmpLinkable() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// openTmp creates an unnamed file in dir (O_TMPFILE), which linkFile names.
// It returns errors.ErrUnsupported where the file system or the kernel has
// no such files.
func openTmp(dir *os.File, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, uint32(perm.Perm()))
	for err == unix.EINTR {
		fd, err = unix.Openat(int(dir.Fd()), ".", unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, uint32(perm.Perm()))
	}
	switch {
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL):
		return nil, errors.ErrUnsupported
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: dir.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), "(unnamed)")), nil
}

// linkFile gives the open file f (from openTmp, or a named partial file)
// the name name in dir. Like a no-replace rename it fails with fs.ErrExist
// when the name is taken; it returns an error wrapping
// errors.ErrUnsupported where the file system has no hard links. It names
// the file f is, whatever names it has meanwhile.
func linkFile(f, dir *os.File, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: name, Err: err}
	}
	links := st.Nlink
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	err := unix.Linkat(unix.AT_FDCWD, src, int(dir.Fd()), name, unix.AT_SYMLINK_FOLLOW)
	for err == unix.EINTR {
		// Interrupted: retry only if the file has no new name yet, or it
		// would get a second one.
		if unix.Fstat(int(f.Fd()), &st) == nil && st.Nlink > links {
			return nil
		}
		err = unix.Linkat(unix.AT_FDCWD, src, int(dir.Fd()), name, unix.AT_SYMLINK_FOLLOW)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS),
		errors.Is(err, unix.ENOENT) && !tmpLinkable(): // no /proc
		err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
	}
	return &os.LinkError{Op: "link", Old: f.Name(), New: name, Err: err}
}

// setTimes sets the access and modification times of the open file f
// (futimens: utimensat with no path).
func setTimes(f *os.File, t time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	for errno == unix.EINTR {
		_, _, errno = unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	}
	if errno != 0 {
		return &os.PathError{Op: "futimens", Path: f.Name(), Err: errno}
	}
	return nil
}

// writeBehind starts writing a range of f to disk now, without waiting, so
// that the flush when the file is complete has little left to do.
func writeBehind(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
