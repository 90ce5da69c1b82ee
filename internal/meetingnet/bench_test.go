package meetingnet

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// rotationSpacing is the least time between two measured roster changes.
const rotationSpacing = 500 * time.Millisecond

// rotationStats are the timings of a series of roster changes on loopback.
type rotationStats struct {
	// switchLags: for every roster change and every member present before
	// and after it, the time from the host publishing the roster to that
	// member sending under its new key.
	switchLags []time.Duration
	// joins: from a joiner starting (relay already joined) to everyone
	// holding everyone's key, with the host admitting automatically.
	joins []time.Duration
	// lost: frames a remaining member failed to decrypt from another
	// remaining member over the whole run.
	lost uint64
	// rotations is the number of roster changes measured.
	rotations int
	// relayErrors and retransmits sum the stable members' counters.
	relayErrors, retransmits uint64
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// measureRotations runs a host and three members with real media on the
// real relay, then n times admits a fresh joiner and removes it again: two
// roster changes each, at least spacing apart.
func measureRotations(t testing.TB, n int, reset func(), spacing time.Duration) rotationStats {
	e := newEvilRelay(t)
	mid := newMeetingID(t)
	host := start(t, e, "host", mid, nil, memberOpts{media: true, policy: meeting.PolicyAdmitAll})
	inv := host.s.Invite()
	stable := []*member{host}
	for _, name := range []string{"a", "b", "c"} {
		stable = append(stable, start(t, e, name, mid, &inv, memberOpts{media: true}))
		requireConverged(t, stable...)
	}
	requireDecodeEachOther(t, stable...)
	before := map[*member]map[string]uint64{}
	for _, m := range stable {
		before[m] = failures(m, stable)
	}
	var st rotationStats
	// recorded returns when m's loop recorded the event of epoch in at
	// (the loop records right after the step the snapshot already shows).
	recorded := func(m *member, at map[uint64]time.Time, epoch uint64) time.Time {
		var when time.Time
		waitFor(t, m.name+" to record epoch "+fmt.Sprint(epoch), 5*time.Second, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			when = at[epoch]
			return !when.IsZero()
		})
		return when
	}
	lagsFor := func(epoch uint64) {
		published := recorded(host, host.rosterAt, epoch)
		for _, m := range stable {
			st.switchLags = append(st.switchLags, recorded(m, m.switchAt, epoch).Sub(published))
		}
		st.rotations++
	}
	if reset != nil {
		reset()
	}
	pace := func(since time.Time) {
		// The relay allows each session 50 envelopes a second (burst 200);
		// a five-member roster change costs the host about a dozen, so
		// changes are spaced to what a real meeting could sustain.
		time.Sleep(time.Until(since.Add(spacing)))
	}
	for range n {
		t0 := time.Now()
		j := start(t, e, "joiner", mid, &inv, memberOpts{media: true})
		all := append(slices.Clone(stable), j)
		requireConverged(t, all...)
		st.joins = append(st.joins, time.Since(t0))
		lagsFor(host.s.Snapshot().Epoch)
		pace(t0)
		t1 := time.Now()
		if err := host.s.Remove(j.sid()); err != nil {
			t.Fatal(err)
		}
		requireConverged(t, stable...)
		lagsFor(host.s.Snapshot().Epoch)
		j.close()
		j.disconnect()
		pace(t1)
	}
	for _, m := range stable {
		for from, f := range failures(m, stable) {
			st.lost += f - before[m][from]
		}
		snap := m.s.Snapshot()
		st.relayErrors += snap.Dropped.RelayErrors
		st.retransmits += snap.Counters.Retransmits
	}
	return st
}

// TestRotationsConverge is the test behind the rotation benchmark: five
// joins and removals in a five-member meeting with real media on the real
// relay all converge. The timing bounds themselves (switch within
// SwitchTimeout, no frame-key gap) depend on the machine's load and are
// checked deterministically in crypto/meeting's simulated-time harness;
// the benchmark reports the loopback figures.
func TestRotationsConverge(t *testing.T) {
	st := measureRotations(t, 5, nil, rotationSpacing)
	t.Logf("%d rotations: switch p50 %v p95 %v max %v; join p50 %v p95 %v; lost frames %d; relay errors %d, re-sends %d",
		st.rotations, pct(st.switchLags, .5), pct(st.switchLags, .95), pct(st.switchLags, 1), pct(st.joins, .5), pct(st.joins, .95), st.lost, st.relayErrors, st.retransmits)
	if st.rotations != 10 || len(st.switchLags) != 10*4 {
		t.Fatalf("%d rotations with %d switches, want 10 with 40", st.rotations, len(st.switchLags))
	}
}

// BenchmarkRotationLoopback measures roster changes (a join and a removal
// per iteration, at most two a second) in a five-member meeting with real
// media on the real relay. ns/op includes the spacing; the reported
// metrics are the figures of interest.
func BenchmarkRotationLoopback(b *testing.B) {
	for _, c := range []struct {
		name    string
		spacing time.Duration
	}{
		{"members=4+1", rotationSpacing},
		// Back to back, the host exceeds the relay's envelope rate: the
		// relay drops some envelopes and re-sends make up for them.
		{"members=4+1/back-to-back", 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			st := measureRotations(b, b.N, b.ResetTimer, c.spacing)
			b.ReportMetric(float64(pct(st.switchLags, .5).Microseconds())/1000, "switch-p50-ms")
			b.ReportMetric(float64(pct(st.switchLags, .95).Microseconds())/1000, "switch-p95-ms")
			b.ReportMetric(float64(pct(st.joins, .5).Microseconds())/1000, "join-p50-ms")
			b.ReportMetric(float64(pct(st.joins, .95).Microseconds())/1000, "join-p95-ms")
			b.ReportMetric(float64(st.lost), "lost-frames")
			b.ReportMetric(float64(st.retransmits)/float64(st.rotations), "resends/rotation")
			b.ReportMetric(float64(st.relayErrors), "relay-errors")
		})
	}
}

// BenchmarkEnvelopeRoundTrip is the baseline: one envelope to another
// session and back through the same relay.
func BenchmarkEnvelopeRoundTrip(b *testing.B) {
	e := newEvilRelay(b)
	mid := signal.NewID()
	dial := func() *transport.Conn {
		c, err := transport.Dial(context.Background(), transport.Config{Conn: e.dial(), MeetingID: mid, SettingEngine: signal.LoopbackOnly})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	a, c := dial(), dial()
	go func() {
		for ev := range c.Events() {
			if env, ok := ev.(transport.Envelope); ok {
				c.SendEnvelope(env.From, env.Payload)
			}
		}
	}()
	payload := make([]byte, 512)
	// Wait for the relay to announce c to a.
	for ev := range a.Events() {
		if pj, ok := ev.(transport.PeerJoined); ok && pj.ID == c.SessionID() {
			break
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := a.SendEnvelope(c.SessionID(), payload); err != nil {
			b.Fatal(err)
		}
		for ev := range a.Events() {
			if _, ok := ev.(transport.Envelope); ok {
				break
			}
		}
	}
}
