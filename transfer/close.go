package transfer

// Close releases the socket of a receiver whose Serve was never called.
// (Serve closes it itself when its context ends.)
func (r *Receiver) Close() error {
	r.ln.Close()
	return r.tr.Close()
}
