package capture

import "time"

// CPU adaptation of the camera stream: when encoding a picture takes
// most of the time until the next one, the machine cannot keep up, and
// frames would queue, age and be dropped at random. The stream then
// encodes only every second picture, then every third (10 frames/s at
// 30), and goes back one step once encoding has had room to spare for
// two seconds of frames. Timestamps follow the capture clock, so the
// rate control sees the longer frame intervals and keeps its bitrate.
// Lowering the resolution, the step after the frame rate, is not done.
const (
	// cpuOverrun is the share of the time per encoded frame that an
	// encode may take on average before pictures are skipped.
	cpuOverrun = 0.8
	// cpuRelaxed is the share, at the next lower skip, under which the
	// stream steps back.
	cpuRelaxed = 0.5
	// cpuSmoothing is the weight of one encode in the average.
	cpuSmoothing = 1.0 / 16
	// maxSkip bounds every: at least a third of the pictures are encoded.
	maxSkip = 3
	// cpuWarmup is the frames encoded before the first step: the first
	// keyframe's encode is slow on its own.
	cpuWarmup = 15
)

// adaptCPU takes one encode's duration and adjusts how many pictures
// are skipped. Caller holds v.mu.
func (v *videoStream) adaptCPU(d time.Duration) {
	if v.encodeAvg == 0 {
		v.encodeAvg = d
	} else {
		v.encodeAvg += time.Duration(cpuSmoothing * float64(d-v.encodeAvg))
	}
	interval := time.Second / time.Duration(max(v.fps, 1))
	budget := time.Duration(v.every) * interval
	switch {
	case v.n < cpuWarmup:
	case v.encodeAvg > time.Duration(cpuOverrun*float64(budget)) && v.every < maxSkip:
		v.every++
		v.calm = 0
	case v.every > 1 && v.encodeAvg < time.Duration(cpuRelaxed*float64(time.Duration(v.every-1)*interval)):
		v.calm++
		if v.calm >= 2*v.fps/v.every {
			v.every--
			v.calm = 0
		}
	default:
		v.calm = 0
	}
}
