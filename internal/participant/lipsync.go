package participant

import (
	"image"
	"time"

	"github.com/pion/rtcp"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/media/framing"
	"github.com/sottohq/sotto/media/lipsync"
	"github.com/sottohq/sotto/relay/signal"
)

// Lip sync (media/lipsync, docs/PROTOCOL.md §5.5): each remote session's
// audio and video sender reports feed one lipsync.Sync, and the session's
// decoded pictures wait in a lipsync.Queue until the audio captured with
// them is heard. It needs to know what the audio output is playing: an
// AudioOutput without PlayingRTP (or none, as in a headless bot) shows
// pictures as they are decoded.

// playingClock is the part of an AudioOutput lip sync reads;
// *playout.Mixer has it.
type playingClock interface {
	PlayingRTP(session string) (ts uint32, at time.Time, ok bool)
}

// audioOutputLatency is the time from handing a block to the device to
// hearing it: one device period (playout.OutputOptions' default 10 ms).
const audioOutputLatency = 10 * time.Millisecond

// syncEntry is one session's Sync, shared by its tracks.
type syncEntry struct {
	sync  *lipsync.Sync
	queue *lipsync.Queue // of the session's video track, while it runs
	refs  int
}

// LipSyncStats are the lip sync counters of one remote session.
type LipSyncStats struct {
	lipsync.Stats
	Queue *lipsync.QueueStats `json:"queue,omitempty"`
}

// acquireSync returns session's Sync, creating it; nil without a playing
// clock. Each call is paired with releaseSync.
func (p *Participant) acquireSync(session signal.ID) *lipsync.Sync {
	clock, ok := p.cfg.AudioOut.(playingClock)
	if !ok || p.cfg.OnVideo == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.syncs == nil {
		p.syncs = make(map[signal.ID]*syncEntry)
	}
	e := p.syncs[session]
	if e == nil {
		name := session.String()
		e = &syncEntry{sync: lipsync.New(lipsync.Config{
			AudioRate: framing.AudioClockRate, VideoRate: framing.VideoClockRate,
			Playing:       func() (uint32, time.Time, bool) { return clock.PlayingRTP(name) },
			OutputLatency: audioOutputLatency,
		})}
		p.syncs[session] = e
	}
	e.refs++
	return e.sync
}

func (p *Participant) releaseSync(session signal.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.syncs[session]; e != nil {
		if e.refs--; e.refs == 0 {
			delete(p.syncs, session)
		}
	}
}

// videoStage returns stage 5 of a remote video track: with a Sync, hold
// the picture in a queue (stop closes it); without, hand it straight to
// OnVideo.
func (p *Participant) videoStage(session signal.ID, sy *lipsync.Sync) (render func(*image.YCbCr, uint32), stop func()) {
	show := func(img *image.YCbCr) {
		if p.cfg.OnVideo != nil {
			p.cfg.OnVideo(session, img)
		}
	}
	if sy == nil {
		return func(img *image.YCbCr, _ uint32) { show(img) }, func() {}
	}
	q := lipsync.NewQueue(show, 0)
	p.mu.Lock()
	if e := p.syncs[session]; e != nil {
		e.queue = q
	}
	p.mu.Unlock()
	render = func(img *image.YCbCr, ts uint32) {
		now := time.Now()
		q.Push(img, now.Add(sy.Hold(ts, now)))
	}
	stop = func() {
		q.Close()
		p.mu.Lock()
		if e := p.syncs[session]; e != nil && e.queue == q {
			e.queue = nil
		}
		p.mu.Unlock()
	}
	return render, stop
}

// readReports reads the RTCP the relay sends about a remote track (which
// also lets the receiver report interceptor see the sender reports) and
// hands the track's sender reports to sy, if any. It returns when the
// track's receiver stops.
func (p *Participant) readReports(rt transport.RemoteTrack, kind framing.Kind, sy *lipsync.Sync) {
	if rt.Receiver == nil {
		return
	}
	ssrc := uint32(rt.Track.SSRC())
	buf := make([]byte, 1500)
	for {
		n, _, err := rt.Receiver.Read(buf)
		if err != nil {
			return
		}
		// Bad RTCP from the relay is skipped (RTPReceiver.ReadRTCP would
		// end the loop on it).
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			sr, ok := pkt.(*rtcp.SenderReport)
			if !ok || sr.SSRC != ssrc || sy == nil {
				continue
			}
			// A report ignored as a jump is counted by the Sync.
			if kind == framing.KindAudio {
				_ = sy.AudioReport(sr.NTPTime, sr.RTPTime)
			} else {
				_ = sy.VideoReport(sr.NTPTime, sr.RTPTime)
			}
		}
	}
}

// lipSyncStats returns session's lip sync counters, nil without a Sync.
// The caller holds p.mu.
func (p *Participant) lipSyncStatsLocked(session signal.ID) *LipSyncStats {
	e := p.syncs[session]
	if e == nil {
		return nil
	}
	s := &LipSyncStats{Stats: e.sync.Stats()}
	if e.queue != nil {
		qs := e.queue.Stats()
		s.Queue = &qs
	}
	return s
}
