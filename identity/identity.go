package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	keyFile  = "identity.key"
	certFile = "identity.crt"
)

// Device is this installation's long-term identity.
type Device struct {
	ID   DeviceID
	Cert tls.Certificate // the self-signed certificate and its private key
	Home string          // the folder the identity lives in

	key ed25519.PrivateKey
}

// ResolveHome returns the home folder: flagHome if set, else $FERRY_HOME, else
// os.UserConfigDir()/ferry.
func ResolveHome(flagHome string) (string, error) {
	if flagHome != "" {
		return filepath.Abs(flagHome)
	}
	if h := os.Getenv("FERRY_HOME"); h != "" {
		return filepath.Abs(h)
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration folder (set --home or FERRY_HOME): %w", err)
	}
	return filepath.Join(d, "ferry"), nil
}

// LoadOrCreate loads the device identity from home, creating a new key and
// certificate on first use. name is the common name of a new certificate; it
// is not the display name, which the user may change at any time.
func LoadOrCreate(home, name string) (*Device, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create home %s: %w", home, err)
	}
	unlock, err := lockHome(home)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, err := load(home)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return create(home, name)
}

func load(home string) (*Device, error) {
	keyPEM, err := os.ReadFile(filepath.Join(home, keyFile))
	if err != nil {
		return nil, fmt.Errorf("read device key: %w", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(home, certFile))
	if err != nil {
		return nil, fmt.Errorf("read device certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load device identity from %s: %w", home, err)
	}
	key, ok := cert.PrivateKey.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load device identity from %s: key is %T, want Ed25519", home, cert.PrivateKey)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse device certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	return &Device{ID: IDFromCert(leaf), Cert: cert, Home: home, key: key}, nil
}

func create(home, name string) (*Device, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate device key: %w", err)
	}
	certDER, err := SelfSign(key, name)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode device key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	// The key goes first: a certificate without its key is useless, and a
	// crash between the two writes leaves a state that load reports clearly.
	if err := WriteFileAtomic(filepath.Join(home, keyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(home, certFile), certPEM, 0o600); err != nil {
		return nil, err
	}
	return load(home)
}

// SelfSign makes a self-signed certificate for key, valid for 20 years, for
// both TLS client and server use.
func SelfSign(key ed25519.PrivateKey, name string) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("draw certificate serial: %w", err)
	}
	if name == "" {
		name = "ferry device"
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ferry"}},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"ferry"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create device certificate: %w", err)
	}
	return der, nil
}

// Secret derives a 32-byte secret for purpose from the device key, stable
// across restarts (for example QUIC's stateless reset key). It is a hash of the
// private key under a purpose label, so it reveals nothing about the key.
func (d *Device) Secret(purpose string) [32]byte {
	h := sha256.New()
	h.Write([]byte("ferry device secret v1\x00" + purpose + "\x00"))
	h.Write(d.key.Seed())
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// WriteFileAtomic writes data to path through a temporary file in the same
// folder that is fsynced and then renamed over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
