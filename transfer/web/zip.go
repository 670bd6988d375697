package web

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"net/http"
)

// WriteZip writes every shared file (and every empty folder) to w as one
// zip, streamed as it is read: entries stored uncompressed (Method Store:
// photos and videos do not shrink, and the phone gets bytes at disk speed),
// each followed by a data descriptor with its CRC-32 and size. archive/zip
// writes zip64 records (in the data descriptor, the central directory and
// its end) when an entry's size or offset passes 4 GiB, or there are more
// than 65,535 entries. Files are read through their roots as the downloads
// are. It stops at the first error (a browser that went away makes w fail)
// or when ctx is done; the zip is then incomplete, which unzip reports.
func (s *Shared) WriteZip(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	buf := make([]byte, 256<<10)
	for i := range s.Files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("zip: %w", err)
		}
		if err := s.zipFile(zw, i, buf); err != nil {
			return err
		}
	}
	for _, d := range s.Dirs {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: d + "/", Method: zip.Store}); err != nil {
			return fmt.Errorf("zip %s: %w", d, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}

func (s *Shared) zipFile(zw *zip.Writer, i int, buf []byte) error {
	f := s.Files[i]
	fh, fi, err := s.open(i)
	if err != nil {
		return err
	}
	defer fh.Close()
	hdr := &zip.FileHeader{Name: f.Name, Method: zip.Store, Modified: fi.ModTime()}
	hdr.SetMode(fi.Mode().Perm())
	ew, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("zip %s: %w", f.Name, err)
	}
	if _, err := io.CopyBuffer(ew, fh, buf); err != nil {
		return fmt.Errorf("zip %s: %w", f.Name, err)
	}
	return nil
}

func (s *SendServer) serveZip(w http.ResponseWriter, r *http.Request) {
	if err := s.checkDownload(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", ContentDisposition(s.opt.ZipName))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Accept-Ranges", "none")
	if r.Method == http.MethodHead {
		return
	}
	cw := &countingWriter{ResponseWriter: w, s: s, ev: DownloadEvent{From: r.RemoteAddr, Name: s.opt.ZipName, Zip: true, Size: -1}}
	cw.WriteHeader(http.StatusOK)
	err := s.opt.Shared.WriteZip(r.Context(), cw)
	cw.ev.Kind = DownloadDone
	if err != nil {
		cw.ev.Kind, cw.ev.Err = DownloadFailed, err
		s.log.Info("web zip download ended early", "from", r.RemoteAddr, "err", err)
	}
	s.events(cw.ev)
	if err == nil {
		for i, f := range s.opt.Shared.Files {
			s.covered(i, 0, f.Size, f.Size)
		}
	}
}
