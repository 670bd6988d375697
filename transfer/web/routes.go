package web

import (
	"context"
	"net/http"
	"strings"
)

const (
	apiPath   = "/api/v1/"
	filesPath = "/api/v1/files/"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	page := s.auth.HostOnly(http.HandlerFunc(s.servePage))
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /pair", page)
	mux.Handle("GET /static/", s.auth.HostOnly(http.HandlerFunc(s.serveStatic)))
	mux.Handle("POST /api/v1/offer", s.auth.Require(http.HandlerFunc(s.postOffer)))
	mux.Handle("GET /api/v1/events", s.auth.Require(http.HandlerFunc(s.getEvents)))
	files := s.auth.Require(http.HandlerFunc(s.tusPrep))
	mux.Handle("HEAD /api/v1/files/{id}", files)
	mux.Handle("PATCH /api/v1/files/{id}", files)
	mux.Handle("/", s.auth.HostOnly(http.NotFoundHandler()))
	return &strictMux{mux}
}

// strictMux refuses what no route of ferry's takes before routing:
// method overrides (tusd would honour them after the MAC was checked for
// another method) and CORS preflights.
type strictMux struct{ *http.ServeMux }

func (m *strictMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-HTTP-Method-Override") != "" || r.Method == http.MethodOptions {
		http.Error(w, "not allowed", http.StatusMethodNotAllowed)
		return
	}
	m.ServeMux.ServeHTTP(w, r)
}

// tusPrep readies a request for tusd: at most maxDataRequests PATCHes at
// once, the chunk hash in the context for the store, and a context that
// ends when the handler returns rather than when the browser goes away
// (a browser that goes away ends the body's reads anyway; tusd's watcher
// of a context cancelled mid-request races with its own body setup).
func (s *Server) tusPrep(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPatch {
		select {
		case s.data <- struct{}{}:
			defer func() { <-s.data }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many uploads at once", http.StatusServiceUnavailable)
			return
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	ctx = withChunkHash(ctx, r.Header.Get("X-Ferry-Chunk-Hash"))
	s.tusMW.ServeHTTP(w, r.WithContext(ctx))
}

func (s *Server) tusFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if strings.ContainsAny(id, "/") {
		http.NotFound(w, r)
		return
	}
	// tusd's unrouted handler takes the upload id as the whole path.
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = id, ""
	r2.URL = &u
	r = r2
	switch r.Method {
	case http.MethodHead:
		s.tus.HeadFile(w, r)
	case http.MethodPatch:
		s.tus.PatchFile(w, r)
	}
}
