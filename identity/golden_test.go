package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-lan/ferry/internal/golden"
)

// TestGolden checks device IDs and the key-derived secret against the
// vectors in testdata/golden, whose values gen.py computed from doc.go and
// RFC 8032/8410 without ferry's code: a device's ID is what a peer pins and
// a trust store keeps, so it must not change between versions.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata/golden", map[string]func(*testing.T, *golden.File){
		"deviceid_rfc8032_":               checkDeviceID,
		"deviceid_certificate_is_its_key": checkCertificateID,
		"deviceid_fail_":                  checkBadDeviceID,
		"secret_":                         checkSecret,
	})
}

func checkDeviceID(t *testing.T, f *golden.File) {
	key := ed25519.NewKeyFromSeed(f.Hex("seed"))
	pub := key.Public().(ed25519.PublicKey)
	if want := f.Hex("public-key"); !bytes.Equal(pub, want) {
		t.Fatalf("public key %x, want %x", pub, want)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.Hex("spki"); !bytes.Equal(spki, want) {
		t.Errorf("SubjectPublicKeyInfo %x, want %x", spki, want)
	}
	id, text := DeviceID(f.Hash("id")), f.String("text")
	if got := IDFromSPKI(spki); got != id {
		t.Errorf("IDFromSPKI = %x, want %x", got, id)
	}
	if got := id.String(); got != text {
		t.Errorf("String = %s, want %s", got, text)
	}
	if got, want := id.Short(), f.String("short"); got != want {
		t.Errorf("Short = %s, want %s", got, want)
	}
	if got, err := id.MarshalText(); err != nil || string(got) != text {
		t.Errorf("MarshalText = %s, %v; want %s", got, err, text)
	}
	for _, s := range []string{text, strings.ToLower(strings.ReplaceAll(text, "-", ""))} {
		if got, err := ParseDeviceID(s); err != nil || got != id {
			t.Errorf("ParseDeviceID(%q) = %x, %v; want %x", s, got, err, id)
		}
	}
	// ferry's own certificate of the key, whatever its serial and dates,
	// names the same device.
	der, err := SelfSign(key, "golden")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDFromCert(c); got != id {
		t.Errorf("IDFromCert(SelfSign(key)) = %s, want %s", got, text)
	}
}

func checkCertificateID(t *testing.T, f *golden.File) {
	c, err := x509.ParseCertificate(f.Hex("certificate"))
	if err != nil {
		t.Fatal(err)
	}
	id := DeviceID(f.Hash("id"))
	if got := IDFromCert(c); got != id {
		t.Errorf("IDFromCert = %x, want %x", got, id)
	}
	if got, want := id.String(), f.String("text"); got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
}

func checkBadDeviceID(t *testing.T, f *golden.File) {
	s := f.String("text")
	if id, err := ParseDeviceID(s); !errors.Is(err, ErrBadDeviceID) {
		t.Errorf("ParseDeviceID(%q) = %s, %v; want ErrBadDeviceID", s, id, err)
	}
}

func checkSecret(t *testing.T, f *golden.File) {
	d := &Device{key: ed25519.NewKeyFromSeed(f.Hex("seed"))}
	if got, want := d.Secret(f.String("purpose")), f.Hash("secret"); got != want {
		t.Errorf("Secret = %x, want %x", got, want)
	}
}
