package transfer

import "errors"

// Close releases the socket of a receiver whose Serve was never called.
// (Serve closes it itself when its context ends.) The transport does not
// close a socket it was given, so Close does.
func (r *Receiver) Close() error {
	r.ln.Close()
	return errors.Join(r.tr.Close(), r.conn.Close())
}
