package transfer

import (
	"sync/atomic"
	"time"

	"github.com/ferry-lan/ferry/identity"
)

// Event is something a sender or receiver reports while it works. The CLI
// renders events; the library never prints.
type Event interface{ event() }

// OfferInfo describes an incoming or outgoing session for people.
type OfferInfo struct {
	PeerName string
	PeerID   identity.DeviceID
	Code     string // verification code of the two device IDs
	Files    int
	Dirs     int
	Bytes    int64 // -1 when a streamed entry's size is unknown
	Paths    []string
	Trusted  bool
	// Text is the text of a text offer (Bytes is its length), as the
	// peer sent it: valid UTF-8 of at most 64 KiB, but anything else, so
	// escape it to show it. It is "" for an offer of files.
	Text string
}

// Progress is a live view of a session's byte counts, safe to read from any
// goroutine.
type Progress struct {
	Total int64        // bytes of all files (-1 if unknown)
	Done  atomic.Int64 // bytes verified on the receiver (kept from earlier runs included)
	Wire  atomic.Int64 // file bytes put on (or taken off) the wire in this run

	cur atomic.Pointer[FileProgress]
}

// FileProgress is the progress of one large file.
type FileProgress struct {
	Name string
	Size int64
	Done atomic.Int64
}

// bigFile is the size from which a file's own progress is shown.
const bigFile = 64 << 20

// Current returns the large file most recently worked on, or nil.
func (p *Progress) Current() *FileProgress { return p.cur.Load() }

func (p *Progress) add(fp *FileProgress, n int64) {
	p.Done.Add(n)
	p.Wire.Add(n)
	if fp != nil {
		fp.Done.Add(n)
		if p.cur.Load() != fp {
			p.cur.Store(fp)
		}
	}
}

func newFileProgress(name string, size, done int64) *FileProgress {
	if size < bigFile {
		return nil
	}
	fp := &FileProgress{Name: name, Size: size}
	fp.Done.Store(done)
	return fp
}

// EventListening: a receiver is ready.
type EventListening struct {
	Port int
}

// EventSession: a session was accepted and data is about to flow.
type EventSession struct {
	Info     OfferInfo
	Progress *Progress
	Resumed  int64 // bytes kept from earlier attempts
}

// EventDeclined: a receiver declined an offer (receiver side).
type EventDeclined struct {
	Info   OfferInfo
	Reason string
}

// EventConnected: a sender completed the handshake.
type EventConnected struct {
	Info OfferInfo
}

// EventFile: a file was verified and renamed to its final name.
type EventFile struct {
	Path string // receiver: the final path on disk; sender: the path as offered
	Name string // final path relative to the receiving folder
	Size int64
	Hash string
	// Existing: the receiver had the file already (same size, time and
	// hash); nothing moved and nothing new was written.
	Existing bool
}

// EventRetry: the connection broke; the sender reconnects until Until.
type EventRetry struct {
	Err   error
	Until time.Time // when the sender gives up, unless it has reconnected
}

// EventReconnected: a sender reconnected to the receiver that accepted its
// offer, with a new verification code; the receiver decides again (it
// accepts at once if it remembers the offer).
type EventReconnected struct {
	Info OfferInfo
}

func (EventReconnected) event() {}

// EventSessionEnd: a receiver's session ended.
type EventSessionEnd struct {
	Info  OfferInfo
	Files int
	Bytes int64
	Err   error // nil: every file delivered
}

func (EventListening) event()  {}
func (EventSession) event()    {}
func (EventDeclined) event()   {}
func (EventConnected) event()  {}
func (EventFile) event()       {}
func (EventRetry) event()      {}
func (EventSessionEnd) event() {}
