package loadtest

import (
	"context"
	"testing"
	"time"
)

// A short in-process run: the generator connects, measures traffic that
// matches the configured rates, and sees no loss on loopback.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Options{Meetings: 1, PerMeeting: 3, Warmup: 300 * time.Millisecond, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	// 3 participants × 2 receivers × (105 video + 50 audio) ≈ 930 packets/s.
	if res.PacketsOutPerSec < 700 || res.PacketsOutPerSec > 1200 {
		t.Fatalf("forwarded %.0f packets/s, want about 930", res.PacketsOutPerSec)
	}
	if res.Expected == 0 || res.Received == 0 {
		t.Fatalf("receivers measured nothing: %+v", res)
	}
	if res.LossPercent > 1 {
		t.Fatalf("loss %.2f%% on loopback", res.LossPercent)
	}
	if res.LatencyP50 <= 0 || res.LatencyP50 > 500*time.Millisecond {
		t.Fatalf("implausible latency %v", res.LatencyP50)
	}
	if res.RelayCPUSeconds <= 0 {
		t.Fatalf("no CPU measured")
	}
}
