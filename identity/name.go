package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// nameFile holds the name the user last gave this device (--name), next to
// the key, so that later commands without --name use it too.
const nameFile = "name"

// LoadName returns the device name stored in home, or "" if none was ever
// stored. A stored name that CheckName refuses is an error: the file was
// edited by hand, and a silent fallback would change the name others see.
func LoadName(home string) (string, error) {
	data, err := os.ReadFile(filepath.Join(home, nameFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read device name: %w", err)
	}
	name := strings.TrimSuffix(string(data), "\n")
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("device name in %s: %w", filepath.Join(home, nameFile), err)
	}
	return name, nil
}

// SaveName stores name as the device name in home (mode 0600, atomically).
func SaveName(home, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(home, nameFile), []byte(name+"\n"), 0o600)
}

// Load reads the device identity in home without creating one; a home with
// no identity yet gives an error that wraps fs.ErrNotExist.
func Load(home string) (*Device, error) {
	return load(home)
}
