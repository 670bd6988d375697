package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// DecodeOffer decodes an offer frame's body of n bytes from r as it
// arrives, entry by entry, and returns it with the digest of its bytes
// (OfferDigest). Unlike reading the whole body first, it never holds the
// body and its decoded form at once: a large offer costs about its
// decoded entries. Keys match as encoding/json matches them (exactly, or
// else case-insensitively); unknown keys are skipped; a key given twice,
// or anything after the object, breaks the protocol.
func DecodeOffer(r io.Reader, n int64) (Offer, []byte, error) {
	h := sha256.New()
	lr := &io.LimitedReader{R: r, N: n}
	dec := json.NewDecoder(io.TeeReader(lr, h))
	var o Offer
	fail := func(err error) (Offer, []byte, error) {
		switch {
		case errors.Is(err, ErrProtocol):
			return Offer{}, nil, err
		case isSyntax(err):
			return Offer{}, nil, Errorf("malformed frame type %d: %v", TypeOffer, err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			if lr.N == 0 {
				return Offer{}, nil, Errorf("malformed frame type %d: the offer ends early", TypeOffer)
			}
			return Offer{}, nil, io.ErrUnexpectedEOF // the stream ended early
		}
		return Offer{}, nil, err // reading the stream failed
	}
	tok, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	switch tok {
	case nil: // null: an empty offer, refused later for its version
	case json.Delim('{'):
		seen := make(map[string]bool, 4)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			key, _ := tok.(string)
			field := offerField(key)
			if field != "" {
				if seen[field] {
					return Offer{}, nil, Errorf("offer key %q given twice", field)
				}
				seen[field] = true
			}
			switch field {
			case "v":
				err = dec.Decode(&o.Version)
			case "name":
				err = dec.Decode(&o.Name)
			case "session":
				err = dec.Decode(&o.Session)
			case "entries":
				err = decodeEntries(dec, &o, n)
			case "text":
				err = decodeTextRef(dec, &o)
			case "swarm":
				err = dec.Decode(&o.Swarm)
			default:
				var skip json.RawMessage
				err = dec.Decode(&skip)
			}
			if err != nil {
				return fail(err)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return fail(err)
		}
	default:
		return Offer{}, nil, Errorf("malformed frame type %d: an offer is a JSON object", TypeOffer)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return Offer{}, nil, Errorf("malformed frame type %d: data after the offer", TypeOffer)
		}
		return fail(err)
	}
	if lr.N > 0 { // only white space can be left; it is part of the digest
		if _, err := io.Copy(io.Discard, io.TeeReader(lr, h)); err != nil {
			return fail(err)
		}
		if lr.N > 0 {
			return Offer{}, nil, io.ErrUnexpectedEOF
		}
	}
	return o, h.Sum(nil), nil
}

// offerField maps a JSON key to the Offer field it sets, as encoding/json
// would: exactly, else ignoring case.
func offerField(key string) string {
	for _, f := range []string{"v", "name", "session", "entries", "text", "swarm"} {
		if key == f || strings.EqualFold(key, f) {
			return f
		}
	}
	return ""
}

// decodeEntries decodes the entries array one entry at a time, refusing
// more than maxEntries before decoding them.
func decodeEntries(dec *json.Decoder, o *Offer, n int64) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null
	}
	if tok != json.Delim('[') {
		return Errorf("malformed frame type %d: entries is not an array", TypeOffer)
	}
	// The smallest useful entry, {"path":"a","size":0,"chunk":65536,"mtime":0},
	// takes 45 bytes: sized for that, the slice does not grow by doubling.
	o.Entries = make([]Entry, 0, min(n/45+1, MaxEntries+1))
	for dec.More() {
		if len(o.Entries) == MaxEntries {
			return Errorf("more than %d entries", MaxEntries)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := onceEach(raw, "path", "dir", "size", "chunk", "exec", "private", "mtime", "stream"); err != nil {
			return err
		}
		o.Entries = append(o.Entries, Entry{})
		if err := json.Unmarshal(raw, &o.Entries[len(o.Entries)-1]); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing bracket
	return err
}

// decodeTextRef decodes a text offer's description (see message.go).
func decodeTextRef(dec *json.Decoder, o *Offer) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if err := onceEach(raw, "size", "sha256"); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &o.Text); err != nil {
		// Bad base64 in sha256 is neither a syntax nor a type error.
		return Errorf("malformed frame type %d: text: %v", TypeOffer, err)
	}
	return nil
}

// onceEach checks that the JSON object raw gives none of fields twice (as
// encoding/json matches keys: exactly, else ignoring case): the question
// and the transfer read the same decoded value, but a name given twice is
// still a lie.
func onceEach(raw []byte, fields ...string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: json.Unmarshal says why
	}
	var seen uint32
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := tok.(string)
		for i, f := range fields {
			if key == f || strings.EqualFold(key, f) {
				if seen&(1<<i) != 0 {
					return Errorf("an offer entry gives %q twice", f)
				}
				seen |= 1 << i
				break
			}
		}
		if err := skipValue(dec); err != nil {
			return nil
		}
	}
	return nil
}

// skipValue reads past the next JSON value without decoding it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}
