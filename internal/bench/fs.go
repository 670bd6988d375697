//go:build linux

package main

// Case (c) measures what ferry pays per file, and most of that is the file
// system's. This VM's root file system is ext4 without a journal, and ext4
// without a journal skips every inode freed in the last 60 s (300 s while
// its inode table block is dirty) when it allocates one, reading each from
// disk. The same binary then makes 2,300 to 5,100 files/s depending on what
// was deleted in the minutes before. So, as root, case (c) receives into a
// fresh ext4 made with mkfs's defaults (journal on, as on a desktop) in a
// sparse loop file: every run starts from the same state. -smallfs here
// receives next to the test data instead.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// freshExt4 makes and mounts a new ext4 file system of size bytes (a sparse
// file under dir) with room for inodes files, and returns its mount point.
// umount unmounts it and deletes the file; it is safe to call more than once.
func freshExt4(ctx context.Context, dir string, size, inodes int64) (mnt string, umount func(), err error) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return "", nil, fmt.Errorf("mkfs.ext4 not found (Debian: apt-get install e2fsprogs): %w", err)
	}
	img := filepath.Join(dir, "smallfs.img")
	mnt = filepath.Join(dir, "smallfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.Create(img)
	if err != nil {
		return "", nil, err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return "", nil, fmt.Errorf("make %s: %w", img, err)
	}
	if err := run(ctx, "mkfs.ext4", "-q", "-F", "-N", fmt.Sprint(inodes), img); err != nil {
		os.Remove(img)
		return "", nil, err
	}
	if err := run(ctx, "mount", "-o", "loop", img, mnt); err != nil {
		os.Remove(img)
		return "", nil, err
	}
	done := false
	return mnt, func() {
		if done {
			return
		}
		done = true
		if err := run(context.Background(), "umount", mnt); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return // leave the image: it is still mounted
		}
		os.Remove(img)
	}, nil
}
