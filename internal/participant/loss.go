package participant

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// LossAware is a local audio stream whose encoder's in-band FEC is tuned
// to the loss receivers report; capture's audio stream is one.
type LossAware interface {
	// SetExpectedLoss sets the expected packet loss in percent (0…100).
	// It must not block (it is called from the RTCP goroutine).
	SetExpectedLoss(percent int)
}

// Expected loss from receiver reports (RFC 3550 §6.4.1, fraction lost).
//
// A publisher's audio track gets two kinds of receiver report, told apart
// by the reporter SSRC: the relay's own, for the publisher→relay leg, and
// the relay's aggregate of its receivers' reports, carrying the worst
// listener's relay→receiver loss (relay/lossreport.go). The legs are in
// series, so the end-to-end loss is 1 − Π(1 − fᵢ) over the latest report
// of each reporter (reports older than lossMaxAge are dropped). That is
// smoothed (attack fast, release slow: losing packets while FEC is being
// turned down costs more than a few kbit/s of FEC too many) and handed to
// the encoder as a whole percentage, with a floor of lossFloor whenever
// any loss was seen, since libopus sends no FEC at 0 %.
const (
	lossMaxAge    = 5 * time.Second
	lossAttack    = 0.5  // weight of a higher estimate
	lossRelease   = 0.1  // weight of a lower estimate
	lossFloor     = 1    // percent, once loss was seen in the last report round
	maxLossReport = 16   // reporters remembered
	lossCeiling   = 50.0 // percent: beyond it more FEC no longer helps
)

type lossEstimator struct {
	ssrc     uint32 // the track's own SSRC: report blocks about it count
	reports  map[uint32]lossReport
	smoothed float64 // percent
	set      atomic.Int64
}

type lossReport struct {
	fraction float64
	at       time.Time
}

func newLossEstimator(ssrc uint32) *lossEstimator {
	e := &lossEstimator{ssrc: ssrc, reports: make(map[uint32]lossReport)}
	e.set.Store(-1)
	return e
}

// add records a receiver report and returns the expected loss in percent
// and whether it changed.
func (e *lossEstimator) add(rr *rtcp.ReceiverReport, now time.Time) (int, bool) {
	seen := false
	for _, b := range rr.Reports {
		if b.SSRC != e.ssrc {
			continue
		}
		if _, ok := e.reports[rr.SSRC]; !ok && len(e.reports) >= maxLossReport {
			continue
		}
		e.reports[rr.SSRC] = lossReport{fraction: float64(b.FractionLost) / 256, at: now}
		seen = true
	}
	if !seen {
		return int(e.set.Load()), false
	}
	through := 1.0
	for k, r := range e.reports {
		if now.Sub(r.at) > lossMaxAge {
			delete(e.reports, k)
			continue
		}
		through *= 1 - r.fraction
	}
	loss := 100 * (1 - through)
	w := lossRelease
	if loss > e.smoothed {
		w = lossAttack
	}
	e.smoothed += w * (loss - e.smoothed)
	p := int(math.Round(math.Min(e.smoothed, lossCeiling)))
	if loss > 0 {
		p = max(p, lossFloor)
	}
	p = max(p, 0)
	changed := int64(p) != e.set.Load()
	e.set.Store(int64(p))
	return p, changed
}

// percent is the last expected loss set, −1 before any report.
func (e *lossEstimator) percent() int { return int(e.set.Load()) }
