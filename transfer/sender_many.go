package transfer

import (
	"context"
	"errors"
	"sync"

	"github.com/ferry-lan/ferry/identity"
)

// Target is one receiver of SendMany.
type Target struct {
	Addrs  []string          // as SendOptions.Addrs
	Expect identity.DeviceID // as SendOptions.Expect
	Paired bool              // as SendOptions.Paired
	Events func(Event)       // this receiver's events
}

// Outcome is how SendMany went for one target: as Send would have
// returned.
type Outcome struct {
	Result Result
	Err    error
}

// sharedReadBudget is how many bytes of chunks SendMany keeps for the
// sessions that have not sent them yet.
const (
	sharedReadBudget = 64 << 20
	swarmReadBudget  = 8 << 20
)

// SendMany offers the same paths to several receivers at once: one session
// per target, each with its own offer, verification code, decision and
// resume, as Send runs them, so a receiver that declines or vanishes
// costs the others nothing. The paths are listed once, and each chunk is
// read and hashed once for all the sessions that send it at about the
// same time (see readCache). opt's Addrs, Expect, Paired and Events are
// ignored: each target has its own. Standard input can go to one target
// only. A text (opt.Text) goes to each target as Send would send it.
//
// The error is for what stops every session before any starts (the paths
// cannot be listed); each target's own result is in its Outcome.
func SendMany(ctx context.Context, opt SendOptions, targets []Target) ([]Outcome, error) {
	if len(targets) == 0 {
		return nil, errors.New("no receiver to send to")
	}
	opt = sendDefaults(opt)
	if opt.Text != "" { // a text message to each: small, no swarm
		out := make([]Outcome, len(targets))
		var wg sync.WaitGroup
		for i, t := range targets {
			o := opt
			o.Addrs, o.Expect, o.Paired, o.Events = t.Addrs, t.Expect, t.Paired, t.Events
			if o.Events == nil {
				o.Events = func(Event) {}
			}
			wg.Go(func() { out[i].Result, out[i].Err = sendText(ctx, o) })
		}
		wg.Wait()
		return out, nil
	}
	src, err := buildManifest(opt.Paths, opt.As, opt.Logger)
	if err != nil {
		return nil, err
	}
	if len(targets) > 1 {
		for _, e := range src {
			if e.Stream {
				return nil, errors.New("standard input can be sent to one receiver only")
			}
		}
	}
	d, err := newDialer()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	budget := int64(sharedReadBudget)
	var sw *swarmOut
	if len(targets) > 1 && !opt.NoSwarm {
		sw = newSwarmOut(src)
		// Most chunks go on the wire once: only receivers outside the
		// swarm, and resends, share reads.
		budget = swarmReadBudget
	}
	cache := newReadCache(len(targets), budget)
	out := make([]Outcome, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		o := opt
		o.Addrs, o.Expect, o.Paired, o.Events = t.Addrs, t.Expect, t.Paired, t.Events
		if o.Events == nil {
			o.Events = func(Event) {}
		}
		o.Logger = opt.Logger.With("receiver", i)
		s, err := prepareSender(o, src, sw)
		if err != nil {
			return nil, err
		}
		s.d, s.cache = d, cache
		wg.Go(func() {
			out[i].Result, out[i].Err = s.run(ctx)
			if sw != nil {
				sw.ended(s)
			}
		})
	}
	wg.Wait()
	return out, nil
}
