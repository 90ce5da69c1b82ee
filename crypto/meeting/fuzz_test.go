package meeting

import (
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting/internal/format"
)

// FuzzReceive feeds arbitrary bytes to a member of a running meeting: it
// must never panic, and nothing unauthenticated may change its roster.
func FuzzReceive(f *testing.F) {
	w := newWorld(f)
	h := w.host("host")
	a := w.join("a", h.m.Invite())
	w.run(20 * time.Millisecond)
	w.admitAll(f, h)
	w.run(time.Second)
	for _, p := range w.log {
		f.Add(p.payload)
	}
	f.Add([]byte{format.Version, format.TypeSealed})
	code := a.m.SecurityCode()
	f.Fuzz(func(t *testing.T, b []byte) {
		a.m.Receive(h.sid, b, w.now)
		h.m.Receive(a.sid, b, w.now)
		a.m.Tick(w.now)
		a.m.Outgoing()
		a.m.Events()
		h.m.Outgoing()
		h.m.Events()
		if a.m.SecurityCode() != code {
			t.Fatal("roster changed on fuzzed input")
		}
	})
}

func FuzzParseRoster(f *testing.F) {
	w := newWorld(f)
	h := w.host("host")
	f.Add(h.m.roster.encoded())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRoster(b, h.m.cfg.MeetingID)
		if err == nil && string(r.encoded()) != string(b) {
			t.Fatal("accepted roster does not re-encode identically")
		}
	})
}
