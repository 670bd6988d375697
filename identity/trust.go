package identity

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

const trustFile = "peers.json"

// Peer is a paired device.
type Peer struct {
	Name     string    `json:"name"`
	ID       DeviceID  `json:"id"`
	PairedAt time.Time `json:"paired_at"`
	Via      string    `json:"via"` // "pin" or "qr"
}

// TrustStore is the set of paired devices, kept in peers.json in the home
// folder. It is safe for concurrent use within one process; writes are atomic.
type TrustStore struct {
	path string

	mu    sync.Mutex
	peers []Peer
	seen  os.FileInfo // peers.json as last read; nil if it did not exist
}

type trustFileV1 struct {
	Version int    `json:"version"`
	Peers   []Peer `json:"peers"`
}

// OpenTrustStore reads the trust store in home; a missing file is an empty store.
// The store follows later changes to the file by other ferry processes
// (ferry pair, ferry trust remove): a running receiver sees them at once.
func OpenTrustStore(home string) (*TrustStore, error) {
	ts := &TrustStore{path: filepath.Join(home, trustFile)}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := ts.reload(); err != nil {
		return nil, err
	}
	return ts, nil
}

// reload reads the file if it changed since it was last read. Called with
// ts.mu held.
func (ts *TrustStore) reload() error {
	fi, err := os.Stat(ts.path)
	if errors.Is(err, fs.ErrNotExist) {
		ts.peers, ts.seen = nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("read trust store: %w", err)
	}
	if ts.seen != nil && os.SameFile(fi, ts.seen) && fi.ModTime().Equal(ts.seen.ModTime()) && fi.Size() == ts.seen.Size() {
		return nil
	}
	data, err := os.ReadFile(ts.path)
	if err != nil {
		return fmt.Errorf("read trust store: %w", err)
	}
	var f trustFileV1
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("read trust store %s: %w", ts.path, err)
	}
	if f.Version != 1 {
		return fmt.Errorf("read trust store %s: unknown version %d", ts.path, f.Version)
	}
	ts.peers, ts.seen = f.Peers, fi
	return nil
}

// fresh brings the in-memory view up to date. A file that cannot be read
// now (being replaced, say) leaves the last good view. Called with ts.mu held.
func (ts *TrustStore) fresh() {
	ts.reload()
}

// Peers returns the paired devices.
func (ts *TrustStore) Peers() []Peer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fresh()
	return slices.Clone(ts.peers)
}

// Lookup returns the paired device with this ID.
func (ts *TrustStore) Lookup(id DeviceID) (Peer, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fresh()
	for _, p := range ts.peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// Trusted reports whether id is a paired device.
func (ts *TrustStore) Trusted(id DeviceID) bool {
	_, ok := ts.Lookup(id)
	return ok
}

// Add stores p, replacing an entry with the same ID.
func (ts *TrustStore) Add(p Peer) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fresh()
	next := slices.DeleteFunc(slices.Clone(ts.peers), func(q Peer) bool { return q.ID == p.ID })
	next = append(next, p)
	if err := ts.save(next); err != nil {
		return err
	}
	ts.peers = next
	ts.seen, _ = os.Stat(ts.path)
	return nil
}

// Remove deletes the device with this ID; it reports whether it was there.
func (ts *TrustStore) Remove(id DeviceID) (bool, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fresh()
	next := slices.DeleteFunc(slices.Clone(ts.peers), func(q Peer) bool { return q.ID == id })
	if len(next) == len(ts.peers) {
		return false, nil
	}
	if err := ts.save(next); err != nil {
		return false, err
	}
	ts.peers = next
	ts.seen, _ = os.Stat(ts.path)
	return true, nil
}

func (ts *TrustStore) save(peers []Peer) error {
	if peers == nil {
		peers = []Peer{}
	}
	data, err := json.MarshalIndent(trustFileV1{Version: 1, Peers: peers}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode trust store: %w", err)
	}
	return WriteFileAtomic(ts.path, append(data, '\n'), 0o600)
}

// PeerID returns the device ID of the peer of a TLS connection.
func PeerID(cs tls.ConnectionState) (DeviceID, error) {
	if len(cs.PeerCertificates) == 0 {
		return DeviceID{}, errors.New("peer presented no certificate")
	}
	return IDFromCert(cs.PeerCertificates[0]), nil
}
