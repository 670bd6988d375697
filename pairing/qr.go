package pairing

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// maxPNGSize bounds QRPNG's image side, in pixels.
const maxPNGSize = 4096

// QRTerminal renders text as a QR code for a terminal: half-block
// characters, two modules a character row, with the 4-module quiet zone.
// With invert false the glyphs draw the light modules, which suits a
// terminal with light text on a dark background; invert suits dark text on
// a light background. Recovery level Medium.
func QRTerminal(text string, invert bool) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("render QR code: %w", err)
	}
	return q.ToSmallString(invert), nil
}

// QRPNG renders text as a size×size PNG QR code (dark on light, quiet zone
// included), recovery level Medium.
func QRPNG(text string, size int) ([]byte, error) {
	if size <= 0 || size > maxPNGSize {
		return nil, fmt.Errorf("render QR code: size %d, want 1 to %d", size, maxPNGSize)
	}
	png, err := qrcode.Encode(text, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	return png, nil
}
