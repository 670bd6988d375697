package transfer

import (
	"runtime"

	"github.com/ferry-lan/ferry/transfer/internal/wire"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-lan/ferry/transfer/safepath"
)

// TestValidateOfferFolderChains sends validateOffer the offer that names the
// most folders within the caps: as many entries as maxOfferFrame holds, each
// a folder at the end of its own chain of 63 folders ("17/d/…/d"), about 14
// million folders in all. The name guard must refuse it as a protocol error
// once it passes safepath.DefaultMaxFolders folders, allocating at most 64
// MiB. (Before the guard had a limit: 2.3 GB allocated, 1.1 GB kept, 11 s.)
func TestValidateOfferFolderChains(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"v":%d,"name":"x","session":"s","entries":[`, wire.Version)
	chain := strings.Repeat("/d", 63)
	n := 0
	for ; n < wire.MaxEntries; n++ {
		e := fmt.Sprintf(`{"path":"%d%s","dir":true}`, n, chain)
		if b.Len()+len(",")+len(e)+len("]}") > wire.MaxOfferFrame {
			break
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
	}
	b.WriteString("]}")
	var o wire.Offer
	if err := json.Unmarshal(b.Bytes(), &o); err != nil {
		t.Fatal(err)
	}

	var err error
	start := time.Now()
	got := allocated(func() { _, err = validateOffer(&o) })
	t.Logf("%d entries, %d folders in %d bytes: %d KiB allocated in %v", n, n*64, wire.MaxOfferFrame, got>>10, time.Since(start))
	if !errors.Is(err, safepath.ErrTooManyFolders) {
		t.Fatalf("validateOffer = %v, want ErrTooManyFolders", err)
	}
	if code, _ := closeReason(context.Background(), err, ""); code != codeProtocol {
		t.Errorf("closed with code %d, want codeProtocol", code)
	}
	if got > 64<<20 {
		t.Errorf("allocated %d bytes, want at most 64 MiB", got)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
