package web

import (
	"testing"
)

// FuzzDecodeOffer: any body decodes or is refused without a panic; what
// is accepted keeps the documented bounds and gives entries store.Check
// can judge.
func FuzzDecodeOffer(f *testing.F) {
	f.Add([]byte(`{"client":"00000000000000000000000000000000","files":[{"path":"a/b.txt","size":3,"mtime":1700000000000}]}`))
	f.Add([]byte(`{"client":"00000000000000000000000000000000","files":[{"path":"../x","size":-1,"mtime":-5}]}`))
	f.Add([]byte(`{"client":"zz","files":[]}`))
	f.Add([]byte(`{"client":"00000000000000000000000000000000","files":[{"path":"a","size":9223372036854775807},{"path":"b","size":1}]} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeOffer(body)
		if err != nil {
			return
		}
		if len(req.Files) == 0 || len(req.Files) > MaxFiles || len(req.Client) != 32 {
			t.Fatalf("accepted %d files, client %q", len(req.Files), req.Client)
		}
		es, idx := req.entries(DefaultChunkSize)
		if len(idx) != len(req.Files) || len(es) < len(idx) {
			t.Fatalf("entries %d for %d files", len(es), len(req.Files))
		}
		for _, f := range req.Files {
			if f.Size < 0 || f.MTime < 0 || f.Path == "" {
				t.Fatalf("accepted %+v", f)
			}
		}
	})
}
