package cli

import (
	"context"
	"net/url"
	"strings"

	"github.com/ferry-lan/ferry/transfer"
)

// pairPage serves the page a phone lands on when it scans ferry pair's QR
// code (http://ADDR:PORT/pair#k=<key>&c=<code text>): it says what the
// code is for and, while the window is open, takes files dropped from the
// phone, with the same question as ferry receive. It returns the page's
// URL (best first) and a function that stops the page and waits for it;
// with no URL (no folder, the TCP port taken), the QR code keeps the code
// text and the reason is shown as a warning.
func pairPage(ctx context.Context, e *env, port int, code string, ifaces []string) (string, func()) {
	fail := func(err error) (string, func()) {
		e.out.event(map[string]any{"event": "warning", "message": "no page for phones: " + errText(err)},
			"warning: no page for phones ("+errText(err)+"); the QR code holds the code text only")
		return "", func() {}
	}
	// The folder is made when the first offer is accepted, not by pairing.
	dir, err := defaultDir()
	if err != nil {
		return fail(err)
	}
	policy := transfer.PolicyTrusted // browsers refused: nobody to ask
	var ask func(context.Context, transfer.OfferInfo) (bool, error)
	var closePrompt func()
	if isTerminal(e.stdin) && !e.json {
		p, err := newPrompter(e, nil)
		if err != nil {
			return fail(err)
		}
		policy, ask, closePrompt = transfer.PolicyAsk, p.ask, p.close
	}
	ctx, cancel := context.WithCancel(ctx)
	rv := &receiveView{e: e, cancel: cancel, dir: dir, accept: policyName(policy)}
	w, err := startWebReceiver(e, port, dir, ifaces, false, policy, ask, rv.onEvent, "/pair", "c="+url.QueryEscape(code))
	if err != nil {
		cancel()
		if closePrompt != nil {
			closePrompt()
		}
		return fail(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.serve(ctx)
	}()
	return w.urls[0], func() {
		cancel()
		<-done
		if closePrompt != nil {
			closePrompt()
		}
	}
}

// codeFromPairURL returns the code text a URL of ferry pair's page carries
// in its fragment (…/pair#k=…&c=CODE), or arg itself when it is not such a
// URL: `ferry pair URL` pairs as `ferry pair CODE` does.
func codeFromPairURL(arg string) string {
	t := strings.TrimSpace(arg)
	if !strings.HasPrefix(t, "http://") && !strings.HasPrefix(t, "https://") {
		return arg
	}
	u, err := url.Parse(t)
	if err != nil {
		return arg
	}
	q, err := url.ParseQuery(u.EscapedFragment())
	if err != nil || q.Get("c") == "" {
		return arg
	}
	return q.Get("c")
}
