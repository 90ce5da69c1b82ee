package field

import (
	"testing"
	"testing/synctest"
	"time"
)

func run(t *testing.T, sc Scenario) Result {
	t.Helper()
	var res Result
	synctest.Test(t, func(t *testing.T) {
		var err error
		res, err = Run(sc)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%s: fps %.1f frozen %.1f%% concealed %.1f%% late %.1f%% snr %.1f dB m2e %.0f ms (spread %.0f) av %.0f ms vdelay %.0f ms ratio %.2f probe %v",
		res.Scenario, res.FPS, res.FrozenPct, res.AudioConcealedPct, res.AudioLatePct, res.AudioSNRdB, res.MouthToEarMs, res.MouthToEarSpreadMs, res.AVOffsetMs, res.VideoDelayMs, res.RelayTxRatio, res.ProbeRTT)
	t.Logf("%s", res.Counters())
	return res
}

func TestFieldClean(t *testing.T) {
	start := time.Now()
	run(t, Scenario{Warmup: 2 * time.Second, Duration: 6 * time.Second})
	t.Logf("real time %v", time.Since(start))
}
