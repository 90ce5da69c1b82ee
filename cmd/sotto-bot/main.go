// Command sotto-bot is a headless meeting participant: it joins a relay
// meeting with synthetic, device or file (VP8 in IVF) media, publishes and
// receives exactly like the desktop app, and at exit prints one JSON line
// of statistics:
// what it sent, and per remote participant what it received, decrypted and
// decoded, and why frames were dropped. Integration tests, demos and load
// tests run it.
//
//	sotto-bot -relay ws://127.0.0.1:8080/ws -meeting <id> -duration 30s \
//	    -video synthetic -audio synthetic -test-key <32 hex digits>
//
// Keys come from the meeting protocol (-host or -link, see meeting.go): the
// bot is admitted through the waiting room and gets per-sender keys. For
// media-only tests, -test-key gives every bot of a meeting the same base
// key instead. THAT IS A TEST-ONLY MODE: anyone with the command line can
// decrypt the meeting, and KIDs are derived from relay-chosen session IDs,
// so a malicious relay could force two bots onto one KID.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/participant"
	relaysignal "github.com/sottohq/sotto/relay/signal"
	"github.com/sottohq/sotto/transport"
)

// options are the command line.
type options struct {
	relay, meeting string
	duration       time.Duration
	video, audio   string
	width, height  int
	fps            int
	loopback       bool
	testKey        string
	verbose        bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sotto-bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.relay, "relay", "", "relay signaling URL, e.g. ws://127.0.0.1:8080/ws")
	fs.StringVar(&o.meeting, "meeting", "", "meeting ID (32 hex digits)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to stay in the meeting")
	fs.StringVar(&o.video, "video", "synthetic", "video source: synthetic, none, camera:ID or ivf:FILE (VP8, looped)")
	fs.StringVar(&o.audio, "audio", "synthetic", "audio source: synthetic, none or mic:ID")
	fs.IntVar(&o.width, "width", 640, "video width")
	fs.IntVar(&o.height, "height", 480, "video height")
	fs.IntVar(&o.fps, "fps", 30, "video frame rate")
	fs.BoolVar(&o.loopback, "loopback", false, "use only the loopback interface for media (relay on this machine)")
	fs.StringVar(&o.testKey, "test-key", "", "TEST ONLY: shared SFrame base key in hex for every bot of the meeting")
	fs.BoolVar(&o.verbose, "v", false, "log connection events to stderr")
	registerMeetingFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if meetingOpts.link != "" {
		if o.relay != "" || o.meeting != "" {
			return o, errors.New("-link names the relay and meeting: drop -relay and -meeting")
		}
		var err error
		if o.relay, o.meeting, err = meetingTransport(); err != nil {
			return o, err
		}
	}
	if o.relay == "" || o.meeting == "" {
		return o, errors.New("-relay and -meeting (or -link) are required")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sotto-bot:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sotto-bot:", err)
		os.Exit(1)
	}
}

// run joins, stays for the duration (or until ctx ends) and writes the
// statistics line to stdout.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	keys, err := newKeying(o)
	if err != nil {
		return err
	}
	opts, err := captureOptions(o)
	if err != nil {
		return err
	}
	src, err := capture.Open(opts)
	if err != nil {
		return fmt.Errorf("open media: %w", err)
	}
	defer src.Close()

	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mid, err := relaysignal.ParseID(o.meeting)
	if err != nil {
		return fmt.Errorf("-meeting: %w", err)
	}
	tc := transport.Config{URL: o.relay, MeetingID: mid, Logger: log}
	if o.loopback {
		tc.SettingEngine = relaysignal.LoopbackOnly
	}
	cfg := participant.Config{Transport: tc, Logger: log}
	// A nil interface value, not a nil stream, means "publish nothing".
	if v := src.Video(); v != nil {
		cfg.Video = v
	}
	if path, ok := strings.CutPrefix(o.video, "ivf:"); ok {
		f, err := openIVF(path)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Video = f
	}
	if a := src.Audio(); a != nil {
		cfg.Audio = a
	}
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	p, err := participant.Join(jctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer p.Close()

	if err := keys.start(p); err != nil {
		return err
	}
	stopKeys := sync.OnceFunc(keys.stop)
	defer stopKeys()
	timer := time.NewTimer(o.duration)
	defer timer.Stop()
	events := p.Conn().Events()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
			break loop
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			if err := keys.event(p, ev); err != nil {
				return err
			}
		}
	}
	line := statsLine(p.Stats(), keys)
	stopKeys()
	src.Close()
	p.Close()
	return json.NewEncoder(stdout).Encode(line)
}

func captureOptions(o options) (capture.Options, error) {
	opts := capture.Options{Width: o.width, Height: o.height, FPS: o.fps}
	switch v := o.video; {
	case v == "synthetic":
		opts.Video = capture.SyntheticVideo()
	case v == "none", strings.HasPrefix(v, "ivf:"):
	case strings.HasPrefix(v, "camera:"):
		opts.Video = capture.Camera(strings.TrimPrefix(v, "camera:"))
	default:
		return opts, fmt.Errorf("unknown -video %q", v)
	}
	switch a := o.audio; {
	case a == "synthetic":
		opts.Audio = capture.SyntheticAudio()
	case a == "none":
	case strings.HasPrefix(a, "mic:"):
		opts.Audio = capture.Microphone(strings.TrimPrefix(a, "mic:"))
	default:
		return opts, fmt.Errorf("unknown -audio %q", a)
	}
	return opts, nil
}
