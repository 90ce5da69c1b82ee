package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
)

// Demo bots: headless participants with synthetic video and audio that
// join the demo meeting through its invite link, like any joiner.
const (
	botWidth, botHeight = 320, 240
	botFPS              = 20
	// botJoinTimeout bounds one bot's connection attempt.
	botJoinTimeout = 30 * time.Second
)

// demoBotNames are the display names of the demo's participants.
var demoBotNames = []string{"Ana (demo)", "Ben (demo)", "Chloé (demo)", "Dev (demo)", "Emeka (demo)", "Fang (demo)", "Gus (demo)", "Hana (demo)"}

// demo holds the bots of a --demo run.
type demo struct {
	log  *slog.Logger
	ids  []*identity.Identity
	mu   sync.Mutex
	bots []*session
}

func newDemo(log *slog.Logger, n int) (*demo, error) {
	d := &demo{log: log}
	for range n {
		id, err := identity.Generate()
		if err != nil {
			return nil, err
		}
		d.ids = append(d.ids, id)
	}
	return d, nil
}

// isBot reports whether pub is one of the demo's own bots (the host admits
// them without asking; anyone else still waits in the waiting room).
func (d *demo) isBot(pub identity.Public) bool {
	for _, id := range d.ids {
		if id.Public().Equal(pub) {
			return true
		}
	}
	return false
}

// start joins every bot to the meeting behind link.
func (d *demo) start(link meeting.Link, relayURL string) {
	for i, id := range d.ids {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), botJoinTimeout)
			defer cancel()
			s, err := startSession(ctx, sessionConfig{
				Self: id, Name: demoBotNames[i%len(demoBotNames)],
				Link: link, RelayURL: relayURL,
				Capture: capture.Options{
					Video: capture.SyntheticVideo(), Audio: capture.SyntheticAudio(),
					Width: botWidth, Height: botHeight, FPS: botFPS,
				},
				CameraOn: true, MicOn: true, LoopbackOnly: true, Headless: true,
				Logger: d.log,
			})
			if err != nil {
				d.log.Error("demo participant could not join", "bot", i, "err", err)
				return
			}
			d.mu.Lock()
			d.bots = append(d.bots, s)
			d.mu.Unlock()
			// Nobody looks at a bot's screen: drain its events and video.
			go func() {
				for range s.Video() {
				}
			}()
			for range s.Events() {
			}
		}()
	}
}

func (d *demo) stop() {
	d.mu.Lock()
	bots := d.bots
	d.bots = nil
	d.mu.Unlock()
	for _, b := range bots {
		b.Leave()
	}
	for _, id := range d.ids {
		id.Destroy()
	}
}

func (d *demo) String() string { return fmt.Sprintf("demo(%d bots)", len(d.ids)) }
