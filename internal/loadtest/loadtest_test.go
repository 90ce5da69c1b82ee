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
	// 3 participants × (105 video + 50 audio) ≈ 465 packets/s in, each
	// forwarded to 2 receivers. Paced senders may fall behind on a loaded
	// machine, so the bounds are loose; the 2:1 ratio is not.
	if res.PacketsInPerSec < 150 || res.PacketsInPerSec > 600 {
		t.Fatalf("relay received %.0f packets/s, want about 465", res.PacketsInPerSec)
	}
	if ratio := res.PacketsOutPerSec / res.PacketsInPerSec; ratio < 1.8 || ratio > 2.2 {
		t.Fatalf("out/in = %.2f, want 2 (each packet to two receivers)", ratio)
	}
	if res.Expected == 0 || res.Received == 0 {
		t.Fatalf("receivers measured nothing: %+v", res)
	}
	if res.LossPercent > 2 {
		t.Fatalf("loss %.2f%% on loopback", res.LossPercent)
	}
	if res.LatencyP50 <= 0 || res.LatencyP50 > 500*time.Millisecond {
		t.Fatalf("implausible latency %v", res.LatencyP50)
	}
	if res.DirectP50 <= 0 {
		t.Fatalf("no direct baseline latency")
	}
	if res.RelayCPUSeconds <= 0 {
		t.Fatalf("no CPU measured")
	}
}
