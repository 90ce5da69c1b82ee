package participant

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/sottohq/sotto/internal/relaytest"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/playout"
	"github.com/sottohq/sotto/media/receive"
	"github.com/sottohq/sotto/media/send"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// startRelay runs the real relay on loopback.
func startRelay(t testing.TB) string {
	_, url := relaytest.Start(t, relay.Config{})
	return url
}

// dialTest dials the relay once and starts a participant on the
// connection, as internal/call does; both end with the test. The
// connection's events are drained.
func dialTest(t testing.TB, tc transport.Config, cfg Config) (*Participant, *transport.Conn) {
	t.Helper()
	cfg.MeetingID = tc.MeetingID
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.OnTrack = p.OnTrack
	conn, err := transport.Dial(context.Background(), tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); p.Close() })
	if err := p.Start(conn); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range conn.Events() {
		}
	}()
	return p, conn
}

// frameKey names one sealed frame: the sender's KID and the SFrame counter.
type frameKey struct {
	kind     framing.Kind
	kid, ctr uint64
}

// world records what every participant of a test meeting sent, received
// and decoded.
type world struct {
	mu        sync.Mutex
	plain     map[[16]byte]bool                 // 16-byte aligned blocks of every encoded frame
	plainHash map[[32]byte]bool                 // hashes of every encoded frame
	sent      map[frameKey]time.Time            // capture time of every sent frame
	sentAt    map[frameKey]time.Time            // when each frame was handed to the track
	decoded   map[string]map[frameKey]time.Time // by receiver session
	wire      map[string][][]byte               // raw RTP as received, by receiver session
	unsent    int                               // decoder inputs that no sender encoded
	keepWire  bool
	width     int
	height    int
}

func newWorld() *world {
	return &world{
		plain: map[[16]byte]bool{}, plainHash: map[[32]byte]bool{}, sent: map[frameKey]time.Time{}, sentAt: map[frameKey]time.Time{},
		decoded: map[string]map[frameKey]time.Time{}, wire: map[string][][]byte{},
		width: 320, height: 240,
	}
}

// recording wraps a local stream and remembers every frame it encoded.
type recording struct {
	Stream
	w *world
}

func (r recording) ReadFrame() (capture.Frame, error) {
	f, err := r.Stream.ReadFrame()
	if err == nil {
		r.w.mu.Lock()
		for i := 0; i+16 <= len(f.Data); i += 16 {
			r.w.plain[[16]byte(f.Data[i:i+16])] = true
		}
		r.w.plainHash[sha256.Sum256(f.Data)] = true
		r.w.mu.Unlock()
	}
	return f, err
}

type member struct {
	p   *Participant
	mix *playout.Mixer
	src *capture.Source
	kid uint64
	key []byte
	me  *string // session ID, known after Join
	sid signal.ID
}

// join opens synthetic media and joins a participant whose traffic w
// records; tamper, if set, may modify each received RTP packet.
func (w *world) join(t testing.TB, url string, meeting signal.ID, kid uint64, tamper func(kind framing.Kind, pkt []byte)) *member {
	t.Helper()
	src, err := capture.Open(capture.Options{
		Video: capture.SyntheticVideo(), Audio: capture.SyntheticAudio(), Width: w.width, Height: w.height,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	m := &member{mix: playout.NewMixer(), src: src, kid: kid, key: []byte(fmt.Sprintf("test key of kid %02d", kid)), me: new(string)}
	ready := make(chan struct{})
	hooks := &testHooks{
		rtp: func(from signal.ID, kind framing.Kind, pkt []byte) {
			<-ready
			if tamper != nil {
				tamper(kind, pkt)
			}
			if w.keepWire {
				w.mu.Lock()
				w.wire[*m.me] = append(w.wire[*m.me], slices.Clone(pkt))
				w.mu.Unlock()
			}
		},
		decode: func(from signal.ID, kind framing.Kind, frame []byte) {
			w.mu.Lock()
			if !w.plainHash[sha256.Sum256(frame)] {
				w.unsent++
			}
			w.mu.Unlock()
		},
	}
	var conn *transport.Conn
	m.p, conn = dialTest(t, transport.Config{URL: url, MeetingID: meeting, SettingEngine: signal.LoopbackOnly}, Config{
		Video:    recording{src.Video(), w},
		Audio:    recording{src.Audio(), w},
		AudioOut: m.mix,
		OnSent: func(f send.SentFrame) {
			w.mu.Lock()
			w.sent[frameKey{f.Kind, f.KID, f.CTR}] = f.CaptureTime
			w.sentAt[frameKey{f.Kind, f.KID, f.CTR}] = time.Now()
			w.mu.Unlock()
		},
		OnDecoded: func(from signal.ID, fi receive.FrameInfo) {
			<-ready
			w.mu.Lock()
			d := w.decoded[*m.me]
			if d == nil {
				d = map[frameKey]time.Time{}
				w.decoded[*m.me] = d
			}
			d[frameKey{fi.Kind, fi.KID, fi.CTR}] = fi.Decoded
			w.mu.Unlock()
		},
		test: hooks,
	})
	m.sid = conn.SessionID()
	*m.me = m.sid.String()
	close(ready)
	return m
}

// connect gives everyone everyone's keys, waits until every member
// decodes audio and video from every other, then starts counting: frames
// sent before that were racing the relay's subscriptions.
func connect(t testing.TB, w *world, ms []*member) {
	t.Helper()
	for _, m := range ms {
		for _, o := range ms {
			if o != m {
				if err := m.p.SetReceiveKey(o.sid, o.kid, o.key); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, m := range ms {
		if err := m.p.SetSendKey(m.kid, m.key); err != nil {
			t.Fatal(err)
		}
	}
	waittest.Until(t, "participants to decode each other", 30*time.Second, func() bool {
		for _, m := range ms {
			n := 0
			for _, r := range m.p.Stats().Remotes {
				if r.Video != nil && r.Audio != nil && r.Video.FramesDecoded > 0 && r.Audio.FramesDecoded > 0 {
					n++
				}
			}
			if n != len(ms)-1 {
				return false
			}
		}
		return true
	})
	w.mu.Lock()
	clear(w.sent)
	clear(w.sentAt)
	w.mu.Unlock()
}

// flow waits until every member in ms sent at least n more video frames:
// media time passing, measured by the media itself rather than the clock.
func flow(t testing.TB, ms []*member, n uint64) {
	t.Helper()
	sent := func(m *member) uint64 {
		if v := m.p.Stats().Sent.Video; v != nil {
			return v.Frames
		}
		return 0
	}
	base := make([]uint64, len(ms))
	for i, m := range ms {
		base[i] = sent(m)
	}
	waittest.Until(t, fmt.Sprintf("members to send %d more frames", n), 60*time.Second, func() bool {
		for i, m := range ms {
			if sent(m) < base[i]+n {
				return false
			}
		}
		return true
	})
}

// stopSending mutes everyone and waits until the frames in flight have
// arrived: until no receiver decodes anything new for half a second (on a
// loaded machine, under the race detector, that can take seconds).
func stopSending(ms []*member) {
	for _, m := range ms {
		m.p.SetVideoEnabled(false)
		m.p.SetAudioEnabled(false)
	}
	decoded := func() (n uint64) {
		for _, m := range ms {
			for _, r := range m.p.Stats().Remotes {
				if r.Video != nil {
					n += r.Video.FramesDecoded
				}
				if r.Audio != nil {
					n += r.Audio.FramesDecoded
				}
			}
		}
		return n
	}
	last := decoded()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		n := decoded()
		if n == last {
			return
		}
		last = n
	}
}

// delivery returns, for receiver m and sender o, how many of o's frames of
// kind m decoded and how many o sent.
func (w *world) delivery(m, o *member, kind framing.Kind) (decoded, sent int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.sent {
		if k.kid == o.kid && k.kind == kind {
			sent++
			if _, ok := w.decoded[*m.me][k]; ok {
				decoded++
			}
		}
	}
	return decoded, sent
}

// decodedSince counts o's frames of kind that m decoded after since.
func (w *world) decodedSince(m, o *member, kind framing.Kind, since time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for k, at := range w.decoded[*m.me] {
		if k.kid == o.kid && k.kind == kind && at.After(since) {
			n++
		}
	}
	return n
}

func (w *world) unsentFrames() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unsent
}

// latencies returns capture-to-decode times of every decoded frame of kind.
func (w *world) latencies(kind framing.Kind) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	for _, d := range w.decoded {
		for k, at := range d {
			if c, ok := w.sent[k]; ok && k.kind == kind {
				out = append(out, at.Sub(c))
			}
		}
	}
	slices.Sort(out)
	return out
}

// sendLatencies returns capture-to-send times (encode, seal, packetize,
// SRTP write) of every sent frame of kind.
func (w *world) sendLatencies(kind framing.Kind) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	for k, at := range w.sentAt {
		if k.kind == kind {
			out = append(out, at.Sub(w.sent[k]))
		}
	}
	slices.Sort(out)
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func TestMeetingThreeParticipantsLoopback(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID()
	w := newWorld()
	w.keepWire = true
	var ms []*member
	for i := range 3 {
		ms = append(ms, w.join(t, url, meeting, uint64(10+i), nil))
	}
	connect(t, w, ms)
	flow(t, ms, 90)
	// Stage 5: each mixer plays both other speakers. The test reads the
	// mixers every 20 ms for a second, the way the output device callback
	// does, and keeps each speaker's loudest level.
	heard := make([]map[string]float64, len(ms))
	buf := make([]float32, playout.FrameSamples)
	for range 50 {
		for i, m := range ms {
			m.mix.Read(buf)
			if heard[i] == nil {
				heard[i] = map[string]float64{}
			}
			for id, l := range m.mix.Levels() {
				heard[i][id] = max(heard[i][id], l)
			}
		}
		time.Sleep(20 * time.Millisecond) // the device period: pacing, not synchronisation
	}
	for i, m := range ms {
		for _, o := range ms {
			// The synthetic sine is at a quarter of full scale (RMS 0.18).
			if o != m && heard[i][*o.me] < 0.05 {
				t.Errorf("%s hears %s at level %.3f", *m.me, *o.me, heard[i][*o.me])
			}
		}
	}
	stopSending(ms)

	for _, m := range ms {
		st := m.p.Stats()
		for _, o := range ms {
			if o == m {
				continue
			}
			for _, kind := range []framing.Kind{framing.KindVideo, framing.KindAudio} {
				dec, sent := w.delivery(m, o, kind)
				t.Logf("%s → %s %s: decoded %d of %d", *o.me, *m.me, kind, dec, sent)
				if sent < 20 || float64(dec) < 0.9*float64(sent) {
					t.Errorf("%s from %s: decoded %d of %d sent", kind, *o.me, dec, sent)
				}
			}
			r := st.Remotes[*o.me]
			if r.Video == nil || r.Video.Dropped.DecryptFailures() != 0 || r.Audio.Dropped.DecryptFailures() != 0 {
				t.Errorf("stats of %s at %s: %+v", *o.me, *m.me, r)
			}
			if r.Video.KID == nil || *r.Video.KID != o.kid {
				t.Errorf("current kid of %s is not %d", *o.me, o.kid)
			}
		}
	}
	if u := w.unsentFrames(); u != 0 {
		t.Fatalf("decoders were fed %d frames no sender encoded", u)
	}

	// The relay forwarded only ciphertext: no 16-byte block of any encoded
	// frame appears anywhere in what it delivered.
	packets, leaked := 0, 0
	var pkt rtp.Packet
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, pkts := range w.wire {
		for _, b := range pkts {
			if err := pkt.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			packets++
			for i := 0; i+16 <= len(pkt.Payload); i++ {
				if w.plain[[16]byte(pkt.Payload[i:i+16])] {
					leaked++
				}
			}
		}
	}
	if packets < 1000 || leaked != 0 {
		t.Fatalf("%d forwarded packets, %d plaintext blocks found in them", packets, leaked)
	}

	w.mu.Unlock()
	v := w.latencies(framing.KindVideo)
	a := w.latencies(framing.KindAudio)
	w.mu.Lock()
	t.Logf("capture→decode latency: video p50 %v p95 %v (%d frames); audio p50 %v p95 %v (%d frames)",
		percentile(v, .5), percentile(v, .95), len(v), percentile(a, .5), percentile(a, .95), len(a))
}

func TestMeetingTamperedForwardingIsCountedNeverDecoded(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID()
	w := newWorld()
	var mu sync.Mutex
	n := map[framing.Kind]int{}
	flipped := map[framing.Kind]int{}
	// The relay (simulated at the end of its SRTP hop) flips one byte in
	// every 25th forwarded packet, inside the encrypted frame.
	tamper := func(kind framing.Kind, b []byte) {
		var pkt rtp.Packet
		if pkt.Unmarshal(b) != nil || len(pkt.Payload) < 8 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		n[kind]++
		if n[kind]%25 == 0 {
			b[len(b)-len(pkt.Payload)/2] ^= 0x01
			flipped[kind]++
		}
	}
	ms := []*member{w.join(t, url, meeting, 1, nil), w.join(t, url, meeting, 2, tamper)}
	connect(t, w, ms)
	flow(t, ms, 90)
	end := time.Now()
	stopSending(ms)

	st := ms[1].p.Stats().Remotes[*ms[0].me]
	mu.Lock()
	defer mu.Unlock()
	js, _ := json.Marshal(ms[0].p.Stats())
	js1, _ := json.Marshal(ms[1].p.Stats())
	vd, vs := w.delivery(ms[1], ms[0], framing.KindVideo)
	t.Logf("flipped %v; video %d/%d\n%s\n%s", flipped, vd, vs, js, js1)
	if flipped[framing.KindVideo] < 5 || flipped[framing.KindAudio] < 5 {
		t.Fatalf("too few packets tampered: %v", flipped)
	}
	// Each tampered frame fails authentication (a frame may hold more than
	// one tampered packet, so video counts at most flipped).
	if a := st.Audio.Dropped.Auth; a != uint64(flipped[framing.KindAudio]) {
		t.Errorf("audio auth failures %d, flipped %d", a, flipped[framing.KindAudio])
	}
	if v := st.Video.Dropped.Auth; v == 0 || v > uint64(flipped[framing.KindVideo]) {
		t.Errorf("video auth failures %d, flipped %d", v, flipped[framing.KindVideo])
	}
	if u := w.unsentFrames(); u != 0 {
		t.Fatalf("decoders were fed %d frames no sender encoded", u)
	}
	// Video kept recovering with keyframes (a tampered keyframe costs
	// another round trip), audio kept playing.
	if n := w.decodedSince(ms[1], ms[0], framing.KindVideo, end.Add(-1500*time.Millisecond)); n == 0 {
		t.Error("no video decoded in the last 1.5 s of tampering")
	}
	if dec, sent := w.delivery(ms[1], ms[0], framing.KindAudio); dec+flipped[framing.KindAudio] < sent*9/10 {
		t.Errorf("audio decoded %d of %d", dec, sent)
	}
	if st.Video.KeyframeRequests == 0 {
		t.Error("no keyframe requested after a dropped video frame")
	}
}

// Key rotation as the meeting protocol drives it: receivers get the new key
// first, the sender switches between two frames, the old key is removed.
// Nothing fails to decrypt, every frame decodes, and after StopSending
// nothing more is sent.
func TestMeetingKeyRotationAndStopSending(t *testing.T) {
	url := startRelay(t)
	meeting := signal.NewID()
	w := newWorld()
	a, b := w.join(t, url, meeting, 1, nil), w.join(t, url, meeting, 2, nil)
	ms := []*member{a, b}
	connect(t, w, ms)
	flow(t, ms, 30)
	newKey := []byte("the rotated key of member one...")
	if err := b.p.SetReceiveKey(a.sid, 101, newKey); err != nil {
		t.Fatal(err)
	}
	if err := a.p.SetSendKey(101, newKey); err != nil {
		t.Fatal(err)
	}
	if err := a.p.SetSendKey(101, newKey); err == nil {
		t.Fatal("a KID was accepted twice for sending")
	}
	flow(t, ms, 30)
	b.p.RemoveReceiveKey(a.kid)
	flow(t, ms, 15)

	a.p.StopSending()
	before := a.p.Stats().Sent
	// b keeps sending: the witness that a had time to send and did not.
	flow(t, []*member{b}, 15)
	after := a.p.Stats().Sent
	stopSending(ms)

	st := b.p.Stats().Remotes[*a.me]
	if st.Video.DecryptFailures != 0 || st.Audio.DecryptFailures != 0 {
		t.Errorf("decrypt failures across the rotation: video %+v audio %+v", st.Video.Dropped, st.Audio.Dropped)
	}
	if st.Video.KID == nil || *st.Video.KID != 101 || st.Audio.KID == nil || *st.Audio.KID != 101 {
		t.Errorf("receiver's current KID is not the rotated one: %+v", st.Video)
	}
	// Frames under both keys decoded: at least 90% of each kind under each.
	sent, decoded := map[frameKey]int{}, map[frameKey]int{}
	w.mu.Lock()
	for k := range w.sent {
		byKey := frameKey{kind: k.kind, kid: k.kid}
		sent[byKey]++
		if _, ok := w.decoded[*b.me][k]; ok {
			decoded[byKey]++
		}
	}
	w.mu.Unlock()
	for _, kind := range []framing.Kind{framing.KindVideo, framing.KindAudio} {
		for _, kid := range []uint64{a.kid, 101} {
			k := frameKey{kind: kind, kid: kid}
			if sent[k] < 15 || decoded[k] < sent[k]*9/10 {
				t.Errorf("%s under kid %d: decoded %d of %d", kind, kid, decoded[k], sent[k])
			}
		}
	}
	if after.Video.Frames != before.Video.Frames || after.Video.NoKey <= before.Video.NoKey {
		t.Errorf("frames sent after StopSending: before %+v after %+v", before.Video, after.Video)
	}
}
