package call

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
)

// Demo participants: headless members with synthetic video and audio that
// join the demo meeting through its invite link, like any joiner.
const (
	demoWidth, demoHeight = 320, 240
	demoFPS               = 20
	// demoJoinTimeout bounds one participant's connection attempt.
	demoJoinTimeout = 30 * time.Second
	// MaxDemoParticipants bounds NewDemo's n.
	MaxDemoParticipants = 8
)

// demoNames are the display names of the demo's participants.
var demoNames = [MaxDemoParticipants]string{"Ana (demo)", "Ben (demo)", "Chloé (demo)", "Dev (demo)", "Emeka (demo)", "Fang (demo)", "Gus (demo)", "Hana (demo)"}

// Demo is the --demo mode: synthetic participants that join every meeting
// the Dialer hosts and are admitted without asking. Their admission is a
// host decision about identities this process made, not a protocol policy
// (a contacts-based policy would also mark them verified, which they are
// not): the host side admits them through the same Admit as a click.
type Demo struct {
	log   *slog.Logger
	ids   []*identity.Identity
	mu    sync.Mutex
	calls []*Call
}

// NewDemo makes n (1..MaxDemoParticipants) throw-away identities.
func NewDemo(log *slog.Logger, n int) (*Demo, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Demo{log: log}
	for range max(1, min(MaxDemoParticipants, n)) {
		id, err := identity.Generate()
		if err != nil {
			return nil, err
		}
		d.ids = append(d.ids, id)
	}
	return d, nil
}

// isParticipant reports whether pub is one of the demo's own participants
// (anyone else still waits in the waiting room).
func (d *Demo) isParticipant(pub identity.Public) bool {
	for _, id := range d.ids {
		if id.Public().Equal(pub) {
			return true
		}
	}
	return false
}

// join joins every participant to the meeting behind link.
func (d *Demo) join(link meeting.Link, relayURL string) {
	for i, id := range d.ids {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), demoJoinTimeout)
			defer cancel()
			c, err := Start(ctx, Config{
				Self: id, Name: demoNames[i], Link: link, RelayURL: relayURL,
				Capture: capture.Options{
					Video: capture.SyntheticVideo(), Audio: capture.SyntheticAudio(),
					Width: demoWidth, Height: demoHeight, FPS: demoFPS,
				},
				CameraOn: true, MicOn: true, LoopbackOnly: true, Headless: true,
				Logger: d.log,
			})
			if err != nil {
				d.log.Error("demo participant could not join", "participant", i, "err", err)
				return
			}
			d.mu.Lock()
			d.calls = append(d.calls, c)
			d.mu.Unlock()
			// Nobody looks at a demo participant's screen: drain its
			// events (a headless call delivers no pictures).
			for range c.Events() {
			}
		}()
	}
}

// stop makes every participant leave and destroys their identities.
func (d *Demo) stop() {
	d.mu.Lock()
	calls := d.calls
	d.calls = nil
	d.mu.Unlock()
	for _, c := range calls {
		c.Leave()
	}
	for _, id := range d.ids {
		id.Destroy()
	}
}
