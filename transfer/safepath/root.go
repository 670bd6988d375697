package safepath

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"strings"
)

// MkdirAll creates the directory dir inside root, one component at a time,
// with permission perm (before umask). dir is a "/"-separated relative path,
// normally one that passed [Check]; "" and "." mean root itself.
//
// Every component that already exists must be a directory. If one is a
// symlink (even to a directory inside root), a file or anything else,
// MkdirAll stops there and returns an error wrapping [ErrUnsafePath] that
// names it. MkdirAll never follows a symlink, and root keeps every operation
// inside it even if the tree changes while MkdirAll runs.
func MkdirAll(root *os.Root, dir string, perm os.FileMode) error {
	if dir == "" || dir == "." {
		return nil
	}
	if err := checkLocal(dir); err != nil {
		return fmt.Errorf("mkdir %s: %w", quote(dir), err)
	}
	for end := range componentEnds(dir) {
		sub := dir[:end]
		err := checkDir(root, sub)
		if errors.Is(err, fs.ErrNotExist) {
			err = root.Mkdir(sub, perm)
			if errors.Is(err, fs.ErrExist) {
				// Created by someone else since we looked: look again.
				err = checkDir(root, sub)
			}
		}
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", quote(dir), err)
		}
	}
	return nil
}

// CheckDir verifies that dir inside root, and every folder on the way to
// it, is a real directory and not a symlink. It returns an error wrapping
// fs.ErrNotExist if one is missing and one wrapping [ErrUnsafePath] that
// names the first offending component otherwise. "" and "." mean root.
func CheckDir(root *os.Root, dir string) error {
	if dir == "" || dir == "." {
		return nil
	}
	if err := checkLocal(dir); err != nil {
		return fmt.Errorf("check %s: %w", quote(dir), err)
	}
	for end := range componentEnds(dir) {
		if err := checkDir(root, dir[:end]); err != nil {
			return fmt.Errorf("check %s: %w", quote(dir), err)
		}
	}
	return nil
}

// CheckParents verifies, right before the receiver creates or renames a file
// to name inside root, that every parent component of name that exists is a
// directory and not a symlink, and that name itself, if it exists, is not a
// symlink, named pipe, socket or device. Missing components are fine. It
// returns an error wrapping [ErrUnsafePath] that names the first offending
// component.
//
// name is a "/"-separated relative path, normally one that passed [Check] or
// one the receiver built from such a name (a ".ferry-" partial file).
func CheckParents(root *os.Root, name string) error {
	if err := checkLocal(name); err != nil {
		return fmt.Errorf("check %s: %w", quote(name), err)
	}
	for end := range componentEnds(name) {
		sub := name[:end]
		var err error
		if end < len(name) {
			err = checkDir(root, sub)
		} else {
			err = checkLeaf(root, sub)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing below a missing component exists either
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", quote(name), err)
		}
	}
	return nil
}

// checkDir returns nil if sub is a real directory, an error wrapping
// fs.ErrNotExist if it does not exist, and one wrapping ErrUnsafePath if it
// is anything else. It never follows sub itself if it is a symlink.
func checkDir(root *os.Root, sub string) error {
	fi, err := root.Lstat(sub)
	if err != nil {
		return err
	}
	switch t := fi.Mode().Type(); {
	case t == fs.ModeDir:
		return nil
	case t&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink, not a directory: %w", quote(sub), ErrUnsafePath)
	case t == 0:
		return fmt.Errorf("%s is a file, not a directory: %w", quote(sub), ErrUnsafePath)
	default:
		return fmt.Errorf("%s is not a directory (mode %v): %w", quote(sub), fi.Mode(), ErrUnsafePath)
	}
}

// checkLeaf returns nil if sub is a regular file or a directory (creating or
// renaming over it fails on its own), an error wrapping fs.ErrNotExist if it
// does not exist, and one wrapping ErrUnsafePath if it is anything else.
func checkLeaf(root *os.Root, sub string) error {
	fi, err := root.Lstat(sub)
	if err != nil {
		return err
	}
	switch t := fi.Mode().Type(); {
	case t == 0 || t == fs.ModeDir:
		return nil
	case t&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink: %w", quote(sub), ErrUnsafePath)
	default:
		return fmt.Errorf("%s is not a regular file (mode %v): %w", quote(sub), fi.Mode(), ErrUnsafePath)
	}
}

// checkLocal checks the shape of a path the receiver passes in: relative,
// "/"-separated, with no empty, "." or ".." components and no NUL or
// backslash. It is weaker than Check so the receiver can use it for its own
// ".ferry-" names, and sufficient because root confines the rest.
func checkLocal(name string) error {
	if name == "" {
		return fmt.Errorf("empty path: %w", ErrUnsafePath)
	}
	if name[0] == '/' || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("not a relative slash-separated path: %w", ErrUnsafePath)
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%q component: %w", c, ErrUnsafePath)
		}
	}
	return nil
}

// componentEnds yields, for "a/b/c", the lengths of "a", "a/b" and "a/b/c".
func componentEnds(name string) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; i < len(name); i++ {
			if name[i] == '/' && !yield(i) {
				return
			}
		}
		yield(len(name))
	}
}
