package audioproc

import "math"

// agc is Sotto's automatic gain control: it brings the talker's speech
// level to TargetDBFS. It measures only frames it judges to be speech
// (frame energy well above a tracked noise floor), so the gain holds
// still in pauses instead of rising on silence ("pumping"), and it moves
// the gain slowly (a few dB per second up, faster down) so syllables are
// not flattened. A soft limiter keeps peaks below full scale.
type agc struct {
	level     float64 // speech power estimate (linear, full scale 1)
	noise     float64 // noise floor estimate (power)
	gainDB    float64 // applied gain
	haveLevel bool
	frameSec  float64
}

const (
	// TargetDBFS is the speech level the AGC aims at (RMS over speech).
	TargetDBFS = -20.0
	// agcMaxGainDB and agcMinGainDB bound the gain.
	agcMaxGainDB = 30.0
	agcMinGainDB = -12.0
	// agcUpDBPerSec and agcDownDBPerSec bound how fast the gain moves.
	agcUpDBPerSec   = 6.0
	agcDownDBPerSec = 20.0
	// agcSpeechOverNoiseDB is how far above the noise floor a frame must
	// be to count as speech; agcMinSpeechDBFS is an absolute floor.
	agcSpeechOverNoiseDB = 9.0
	agcMinSpeechDBFS     = -60.0
	// agcLevelTau is the time constant of the speech level estimate.
	agcLevelTau = 0.4
)

func newAGC(frameSec float64) *agc {
	return &agc{frameSec: frameSec, noise: dbToPow(-70)}
}

func dbToPow(db float64) float64 { return math.Pow(10, db/10) }
func powToDB(p float64) float64  { return 10 * math.Log10(p+1e-20) }

// agcMaxRemovedDB: a frame from which echo cancellation and noise
// suppression removed more than this is echo or noise, not the talker:
// it does not move the gain (otherwise the AGC would amplify the
// residual echo of far-end-only talk).
const agcMaxRemovedDB = 10.0

// process applies the gain to one frame (floats, full scale 1) in place;
// inPower is the frame's power before echo cancellation and noise
// suppression (0: unknown).
func (a *agc) process(x []float32, inPower float64) {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	p := sum / float64(len(x))
	// Noise floor: follows drops at once, rises slowly (minimum tracking).
	if p < a.noise {
		a.noise = p
	} else {
		a.noise *= math.Pow(10, 0.5*a.frameSec/10) // +0.5 dB/s
	}
	speech := powToDB(p) > agcMinSpeechDBFS && powToDB(p) > powToDB(a.noise)+agcSpeechOverNoiseDB &&
		(inPower == 0 || powToDB(p) > powToDB(inPower)-agcMaxRemovedDB)
	if speech {
		if !a.haveLevel {
			a.level, a.haveLevel = p, true
		} else {
			k := a.frameSec / agcLevelTau
			a.level += k * (p - a.level)
		}
		want := TargetDBFS - powToDB(a.level)
		want = min(max(want, agcMinGainDB), agcMaxGainDB)
		switch {
		case want > a.gainDB:
			a.gainDB = min(want, a.gainDB+agcUpDBPerSec*a.frameSec)
		case want < a.gainDB:
			a.gainDB = max(want, a.gainDB-agcDownDBPerSec*a.frameSec)
		}
	}
	g := math.Pow(10, a.gainDB/20)
	for i, v := range x {
		x[i] = softLimit(float32(float64(v) * g))
	}
}

// softLimit passes samples up to 0.9 unchanged and compresses louder
// ones smoothly towards ±1.
func softLimit(v float32) float32 {
	const knee = 0.9
	a := math.Abs(float64(v))
	if a <= knee {
		return v
	}
	c := knee + (1-knee)*math.Tanh((a-knee)/(1-knee))
	return float32(math.Copysign(c, float64(v)))
}
