package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// getEvents streams an offer's results as server-sent events:
//
//	event: file   data: {"index", "name", "size", "hash"} | {"index", "error"}
//	event: done   data: {"files", "bytes"}
//	event: failed data: {"error"}
//
// Every result so far is sent on connecting, so a page that reconnects
// (with a fresh MAC) misses nothing.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	o := s.offer(r.URL.Query().Get("offer"))
	if o == nil {
		http.Error(w, "no such offer", http.StatusNotFound)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	sent := make(map[int]bool)
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		res, over, failed, changed := o.snapshot()
		for _, fr := range res {
			if sent[fr.Index] {
				continue
			}
			sent[fr.Index] = true
			b, _ := json.Marshal(fr)
			fmt.Fprintf(w, "event: file\ndata: %s\n\n", b)
		}
		if over {
			if failed != nil {
				b, _ := json.Marshal(map[string]string{"error": failed.Error()})
				fmt.Fprintf(w, "event: failed\ndata: %s\n\n", b)
			} else {
				b, _ := json.Marshal(map[string]any{"files": o.doneFiles(), "bytes": o.doneBytes()})
				fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
			}
			rc.Flush()
			return
		}
		rc.SetWriteDeadline(time.Now().Add(netTimeout))
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
	}
}
