//go:build !unix

package cli

import "io"

func newAnswerInput(r io.Reader) (answerInput, error) { return newLineInput(r), nil }
