package relay_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

var (
	fuzzRelayOnce sync.Once
	fuzzRelay     *relay.Relay
)

// FuzzRelayInput feeds arbitrary message sequences to a joined session (the
// input split at newlines). Whatever they are, the relay neither crashes
// nor stops serving: afterwards a fresh session still gets its pong.
func FuzzRelayInput(f *testing.F) {
	id := signal.NewID().String()
	for _, s := range []string{
		`{"type":"publish","kind":"video"}` + "\n" + `{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`,
		`{"type":"envelope","to":"` + id + `","payload":"AA=="}` + "\n" + `{"type":"envelope","payload":"AA=="}`,
		`{"type":"unpublish","mid":"0"}` + "\n" + `{"type":"join","meeting":"` + id + `"}`,
		`{"type":"answer","sdp":"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}`,
		"\x00\x01\x02", `{"type":"offer","sdp":"x"}`, `[]`, `{"type":"ping"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzRelayOnce.Do(func() {
			r, err := relay.New(relay.Config{LoopbackOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			fuzzRelay = r
		})
		r := fuzzRelay
		c := &raw{t: t, conn: relaytest.Pipe(r)}
		c.join(signal.NewID())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, msg := range bytes.Split(in, []byte("\n")) {
			if c.conn.Write(ctx, msg) != nil {
				break // closed by the relay: fine
			}
		}
		c.conn.Close("done")
		probe := &raw{t: t, conn: relaytest.Pipe(r)}
		probe.join(signal.NewID())
		probe.ping()
		probe.conn.Close("done")
	})
}
