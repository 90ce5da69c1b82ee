// Command sotto-load starts synthetic participants against a Sotto relay
// and reports what the relay forwards: packets per second, relay CPU,
// packets per CPU core, loss and latency through the relay.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/sottohq/sotto/internal/loadtest"
)

const usage = `sotto-load: drive a Sotto relay with synthetic participants.

Each participant publishes paced video (30 fps, ~105 packets/s, ~1.2 Mbit/s)
and audio (50 packets/s) and receives everyone else in its meeting.

Usage: sotto-load [flags]
  Against a running relay:  sotto-load -url ws://127.0.0.1:8080/ws -meetings 4 -per-meeting 8
  In-process relay:         sotto-load -meetings 1 -per-meeting 4

Flags:
`

func main() {
	var o loadtest.Options
	fs := flag.NewFlagSet("sotto-load", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.StringVar(&o.URL, "url", "", "relay signaling `URL` (empty: start a relay in this process; its CPU figure then includes the participants)")
	fs.StringVar(&o.MetricsURL, "metrics", "", "relay metrics `URL` (default: derived from -url)")
	fs.IntVar(&o.Meetings, "meetings", 1, "number of meetings")
	fs.IntVar(&o.PerMeeting, "per-meeting", 4, "participants per meeting")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "warm-up after all tracks flow")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured duration")
	fs.IntVar(&o.VideoFPS, "video-fps", 30, "video frames per second")
	fs.IntVar(&o.VideoPacketBytes, "video-bytes", 1150, "video RTP payload bytes")
	fs.IntVar(&o.AudioPPS, "audio-pps", 50, "audio packets per second")
	fs.IntVar(&o.AudioPacketBytes, "audio-bytes", 160, "audio RTP payload bytes")
	fs.BoolVar(&o.NoAudio, "no-audio", false, "publish video only")
	fs.BoolVar(&o.NoVideo, "no-video", false, "publish audio only")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to `file` during the measurement")
	fs.Parse(os.Args[1:])

	o.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "sotto-load: "+f+"\n", a...) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sotto-load:", err)
			os.Exit(1)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	res, err := loadtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sotto-load:", err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	where := "separate process"
	if res.InProcess {
		where = "in-process (CPU includes participants)"
	}
	fmt.Printf("participants        %d (%d meetings × %d)\n", res.Participants, o.Meetings, o.PerMeeting)
	fmt.Printf("relay               %s, GOMAXPROCS %d here\n", where, runtime.GOMAXPROCS(0))
	fmt.Printf("measured            %.1f s\n", res.Seconds)
	fmt.Printf("packets in/s        %.0f\n", res.PacketsInPerSec)
	fmt.Printf("packets out/s       %.0f (%.1f Mbit/s)\n", res.PacketsOutPerSec, res.BitsOutPerSec/1e6)
	fmt.Printf("relay CPU           %.2f cores\n", res.RelayCores)
	fmt.Printf("out packets/core/s  %.0f\n", res.PacketsPerCore)
	fmt.Printf("loss                %d of %d (%.3f%%)\n", res.Lost, res.Expected, res.LossPercent)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Printf("latency p50/p99/max %v / %v / %v (send→receive through the relay)\n", r(res.LatencyP50), r(res.LatencyP99), r(res.LatencyMax))
	fmt.Printf("direct p50/p99      %v / %v (same stack, no relay, same time)\n", r(res.DirectP50), r(res.DirectP99))
	fmt.Printf("added by relay p50  %v\n", r(res.AddedP50))
}
