package transfer

import (
	"fmt"
	"path/filepath"
	"testing"
)

// A swarm of many small files (more complete files than a receiver keeps
// open to serve from) and a larger one: everything arrives.
func TestSwarmManySmallFiles(t *testing.T) {
	rs := []*testReceiver{startReceiver(t), startReceiver(t), startReceiver(t)}
	s := newSender(t)
	src := t.TempDir()
	writeFile(t, src, "big.bin", 3*mib)
	for i := range 300 {
		writeFile(t, src, fmt.Sprintf("docs/f%03d", i), 100+i*20)
	}
	out := sendSwarm(t, s, rs, []string{filepath.Join(src, "big.bin"), filepath.Join(src, "docs")})
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("receiver %d: %v", i, o.Err)
		}
		sameFile(t, filepath.Join(src, "docs/f299"), filepath.Join(rs[i].cfg.Dir, "docs/f299"))
		sameFile(t, filepath.Join(src, "big.bin"), filepath.Join(rs[i].cfg.Dir, "big.bin"))
	}
}
