// Package identity owns what makes a ferry installation a device: its long-term
// Ed25519 key and self-signed certificate, the DeviceID derived from the key,
// the home folder they live in, and the trust store of paired devices.
//
// A DeviceID is the SHA-256 of the certificate's SubjectPublicKeyInfo, written
// as unpadded base32 in dash-separated groups of four. Pinning the public key
// rather than the whole certificate lets a device re-issue an expired
// certificate without being paired again.
//
// The key (identity.key, PKCS#8 PEM), certificate (identity.crt) and trust
// store (peers.json) are files of mode 0600 in a folder of mode 0700, and so is
// the device name the user last chose (name, one line; absent until one is
// chosen). Every write is atomic: a temporary file in the same folder, fsynced,
// renamed.
//
// A device name is at most 63 bytes of UTF-8 with no control character and
// at least one visible one (CheckName): a name of fillers and invisible
// characters shows as nothing. Names are compared for likeness (SameName)
// with the skeletons of Unicode TR39 and without case, so that a stranger
// who takes a name like a paired device's is noticed.
package identity
