package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/relay/signal"
)

// BenchmarkBotCPU measures the CPU one participant uses sending 640×480@30
// video and Opus audio while receiving the same from N−1 others, each a
// separate sotto-bot process through an in-process relay on loopback. The
// participants=1 case (sending only) is the baseline. cpu-cores is the
// measured bot's user+system CPU time divided by its wall time, capture
// and synthetic pattern generation included.
func BenchmarkBotCPU(b *testing.B) {
	bin := buildBot(b)
	url := startRelay(b)
	const seconds = 10

	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("participants=%d", n), func(b *testing.B) {
			var cores, sentFPS, recvFPS float64
			for range b.N {
				meeting := signal.NewID().String()
				var wg sync.WaitGroup
				cmds := make([]*exec.Cmd, n)
				outs := make([]bytes.Buffer, n)
				for i := range cmds {
					// The measured bot (0) starts last and leaves first, so
					// it receives every other stream for its whole stay.
					d := seconds + 2*i
					cmds[i] = exec.Command(bin, "-relay", url, "-meeting", meeting, "-loopback",
						"-duration", fmt.Sprint(d, "s"), "-test-key", "000102030405060708090a0b0c0d0e0f")
					cmds[i].Stdout = &outs[i]
				}
				for i := n - 1; i >= 0; i-- {
					if err := cmds[i].Start(); err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() { defer wg.Done(); cmds[i].Wait() }()
					if i > 0 {
						time.Sleep(time.Second)
					}
				}
				wg.Wait()
				ps := cmds[0].ProcessState
				if !ps.Success() {
					b.Fatalf("bot failed: %v", ps)
				}
				var st participant.Stats
				if err := json.Unmarshal(outs[0].Bytes(), &st); err != nil {
					b.Fatal(err)
				}
				if len(st.Remotes) != n-1 {
					b.Fatalf("measured bot received %d participants, want %d", len(st.Remotes), n-1)
				}
				for id, rs := range st.Remotes {
					if rs.Video == nil || rs.Video.FramesDecoded < 15*seconds/2 {
						b.Fatalf("measured bot decoded too little video from %s: %+v", id, rs.Video)
					}
					recvFPS += float64(rs.Video.FramesDecoded) / seconds / float64(n-1)
				}
				sentFPS += float64(st.Sent.Video.Frames) / seconds
				cpu := ps.UserTime() + ps.SystemTime()
				cores += cpu.Seconds() / seconds
			}
			// The frame rates show whether the machine kept up: CPU per
			// frame is only comparable at the nominal 30 frames/s.
			b.ReportMetric(cores/float64(b.N), "cpu-cores")
			b.ReportMetric(sentFPS/float64(b.N), "sent-fps")
			if n > 1 {
				b.ReportMetric(recvFPS/float64(b.N), "recv-fps/stream")
			}
		})
	}
}
