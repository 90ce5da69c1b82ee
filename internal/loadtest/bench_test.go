package loadtest

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkUDPSendBaseline is the floor under every forwarded packet: one
// 1200-byte datagram written to a loopback socket (no SRTP, no
// interceptors). Compare ns/op with the relay's CPU per packet
// (1e9 / out-pkts/core-s) from BenchmarkRelayForwarding in the same run.
func BenchmarkUDPSendBaseline(b *testing.B) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
		}
	}()
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	pkt := make([]byte, 1200)
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tx.Write(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayForwarding builds and starts sotto-relay as its own process
// (so its CPU time is the relay's alone), drives it with synthetic
// participants, and reports forwarded packets/s, packets per relay CPU
// core-second, loss and latency. One run takes about 20 s, so the default
// -benchtime runs it once. The load is
// set by SOTTO_LOAD="MEETINGS PER_MEETING" (default "2 12").
func BenchmarkRelayForwarding(b *testing.B) {
	meetings, per := 2, 12
	if v := os.Getenv("SOTTO_LOAD"); v != "" {
		f := strings.Fields(v)
		if len(f) == 2 {
			meetings, per = atoi(f[0]), atoi(f[1])
		}
	}
	bin := filepath.Join(b.TempDir(), "sotto-relay")
	build := exec.Command("go", "build", "-o", bin, "github.com/sottohq/sotto/cmd/sotto-relay")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build relay: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-loopback", "-log-level", "info", "-max-sessions", "100")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	// The relay logs its signaling URL as JSON: "signaling":"ws://…/ws".
	url := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, `"signaling":"`); i >= 0 {
			rest := line[i+len(`"signaling":"`):]
			url = rest[:strings.IndexByte(rest, '"')]
			break
		}
	}
	if url == "" {
		b.Fatal("relay did not report its address")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), Options{URL: url, Meetings: meetings, PerMeeting: per, Warmup: 3 * time.Second, Duration: 15 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.PacketsOutPerSec, "out-pkts/s")
		b.ReportMetric(res.RelayCores, "relay-cores")
		b.ReportMetric(res.PacketsPerCore, "out-pkts/core-s")
		b.ReportMetric(res.LossPercent, "loss-%")
		b.ReportMetric(float64(res.LatencyP50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(res.LatencyP99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(res.DirectP50.Microseconds()), "direct-p50-µs")
		b.ReportMetric(float64(res.AddedP50.Microseconds()), "added-p50-µs")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
