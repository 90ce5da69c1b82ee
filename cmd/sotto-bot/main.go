// Command sotto-bot is a headless meeting participant: it joins a relay
// meeting with synthetic, device or file (VP8 in IVF, speech in WAV) media
// through the same meeting composition as the desktop app (internal/call),
// with the same microphone processing (-aec, -ns, -agc), can record what it
// would play (-record FILE.wav), and at exit
// prints one JSON line of statistics: what it sent, and per remote
// participant what it received, decrypted and decoded, and why frames were
// dropped, plus the roster epoch, security code and per-sender key state.
// Integration tests, demos and load tests run it.
//
//	host:   sotto-bot -relay ws://127.0.0.1:8080/ws -meeting <id> -host -admit all -link-out link.txt
//	joiner: sotto-bot -link "$(cat link.txt)" -identity bot.key -name "Bot 2"
//
// Keys come from the meeting protocol (-host or -link): the bot is
// admitted through the waiting room and gets per-sender keys. A host bot
// writes its link to -link-out, or prints it to stderr without one (the
// link carries the invite key: with a file, it stays out of the bot's log
// stream); with -admit all it admits every joiner, which only test
// meetings should do.
//
// For media-only tests, -test-key gives every bot of a meeting the same
// base key instead. THAT IS A TEST-ONLY MODE: anyone with the command line
// can decrypt the meeting, and KIDs are derived from relay-chosen session
// IDs, so a malicious relay could force two bots onto one KID.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/call"
	"github.com/sottohq/sotto/media/capture"
)

const (
	// passphraseEnv names the environment variable holding the keystore
	// passphrase (empty when unset: the keystore is then unprotected).
	passphraseEnv = "SOTTO_PASSPHRASE"
	// joinTimeout bounds connecting to the relay.
	joinTimeout = 30 * time.Second
	// defaultName is the display name without -name or a keystore's.
	defaultName = "sotto-bot"
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
	record         string
	aec, ns, agc   bool

	// The meeting protocol.
	link     string
	host     bool
	linkOut  string
	identity string
	name     string
	admit    string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sotto-bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.relay, "relay", "", "relay signaling URL, e.g. ws://127.0.0.1:8080/ws")
	fs.StringVar(&o.meeting, "meeting", "", "meeting ID (32 hex digits)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to stay in the meeting")
	fs.StringVar(&o.video, "video", "synthetic", "video source: synthetic, none, camera:ID or ivf:FILE (VP8, looped)")
	fs.StringVar(&o.audio, "audio", "synthetic", "audio source: synthetic, none, mic:ID or wav:FILE (48 kHz, played once in real time)")
	fs.StringVar(&o.record, "record", "", "write the mix of the others, as the bot would play it, to this WAV `file` (mono 48 kHz)")
	fs.BoolVar(&o.aec, "aec", true, "echo cancellation of the microphone against what the bot plays")
	fs.BoolVar(&o.ns, "ns", true, "noise suppression of the microphone")
	fs.BoolVar(&o.agc, "agc", true, "automatic gain control of the microphone")
	fs.IntVar(&o.width, "width", 640, "video width")
	fs.IntVar(&o.height, "height", 480, "video height")
	fs.IntVar(&o.fps, "fps", 30, "video frame rate")
	fs.BoolVar(&o.loopback, "loopback", false, "use only the loopback interface for media (relay on this machine)")
	fs.StringVar(&o.testKey, "test-key", "", "TEST ONLY: shared SFrame base key in hex for every bot of the meeting")
	fs.BoolVar(&o.verbose, "v", false, "log connection events to stderr")
	fs.StringVar(&o.link, "link", "", "join the meeting of this `link` (sotto:// or sotto+insecure://) through its waiting room")
	fs.BoolVar(&o.host, "host", false, "host a new meeting on -relay with ID -meeting and print its link")
	fs.StringVar(&o.linkOut, "link-out", "", "with -host: write the link to this `file` (mode 0600) instead of stderr")
	fs.StringVar(&o.identity, "identity", "", "identity keystore `file` (created if missing; passphrase from $"+passphraseEnv+"); default: a fresh identity per run")
	fs.StringVar(&o.name, "name", "", "display `name` (default: the keystore's, else \""+defaultName+"\")")
	fs.StringVar(&o.admit, "admit", "ask", "with -host: admission `policy`: ask (the host decides; nobody for a bot), verified (verified contacts), all (test bots)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.link != "" {
		if o.relay != "" || o.meeting != "" {
			return o, errors.New("-link names the relay and meeting: drop -relay and -meeting")
		}
		l, err := meeting.ParseLink(o.link)
		if err != nil {
			return o, err
		}
		o.relay, o.meeting = l.RelayURL(), l.MeetingID.String()
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
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	cfg, cleanup, err := callConfig(o, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		return err
	}
	defer cleanup()
	var rec *recorder
	if o.record != "" {
		if rec, err = newRecorder(o.record); err != nil {
			return err
		}
		defer rec.close()
		cfg.Record = rec.write
	}
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	c, err := call.Start(jctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer c.Leave()
	if o.host {
		if err := announceLink(o.linkOut, c.InviteLink(), stderr); err != nil {
			return err
		}
	}
	timer := time.NewTimer(o.duration)
	defer timer.Stop()
	events := c.Events()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
			break loop
		case _, ok := <-events:
			if !ok {
				break loop // the meeting ended for this bot
			}
		}
	}
	line := c.Stats()
	c.Leave()
	if rec != nil {
		if err := rec.close(); err != nil {
			return err
		}
	}
	return json.NewEncoder(stdout).Encode(line)
}

// callConfig turns the command line into a meeting; cleanup closes what it
// opened (a VP8 file) and zeroes the identity.
func callConfig(o options, log *slog.Logger) (call.Config, func(), error) {
	cfg := call.Config{
		RelayURL: o.relay, Headless: true, CameraOn: true, MicOn: true,
		LoopbackOnly: o.loopback, Logger: log, Processing: processing(o),
	}
	cleanup := func() {}
	var err error
	if cfg.Capture, err = captureOptions(o); err != nil {
		return cfg, cleanup, err
	}
	if err := keyConfig(o, &cfg); err != nil {
		return cfg, cleanup, err
	}
	if cfg.Self != nil {
		id := cfg.Self
		cleanup = id.Destroy
	}
	if path, ok := strings.CutPrefix(o.video, "ivf:"); ok {
		f, err := openIVF(path)
		if err != nil {
			cleanup()
			return cfg, func() {}, err
		}
		cfg.Video = f
		prev := cleanup
		cleanup = func() { f.Close(); prev() }
	}
	return cfg, cleanup, nil
}

// keyConfig sets where the keys come from: the meeting protocol (-host or
// -link) or the test-only shared key.
func keyConfig(o options, cfg *call.Config) error {
	meetingMode := o.link != "" || o.host
	switch {
	case meetingMode && o.testKey != "":
		return errors.New("-test-key cannot be combined with -host or -link")
	case !meetingMode && o.testKey == "":
		return errors.New("no keys: use -host or -link, or -test-key for a test-only shared key")
	case !meetingMode:
		key, err := hex.DecodeString(o.testKey)
		if err != nil || len(key) < 16 {
			return errors.New("-test-key must be at least 16 bytes of hex")
		}
		mid, err := meeting.ParseMeetingID(o.meeting)
		if err != nil {
			return fmt.Errorf("meeting id: %w", err)
		}
		cfg.Link.MeetingID, cfg.SharedTestKey = mid, key
		return nil
	}
	return meetingConfig(o, cfg)
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
	case strings.HasPrefix(a, "wav:"):
		src, err := wavMicrophone(strings.TrimPrefix(a, "wav:"))
		if err != nil {
			return opts, err
		}
		opts.Audio = src
	default:
		return opts, fmt.Errorf("unknown -audio %q", a)
	}
	return opts, nil
}

// loadIdentity opens (or creates) the -identity keystore, or makes a fresh
// identity; name is the keystore's display name.
func loadIdentity(path, name string) (*identity.Identity, string, error) {
	if path == "" {
		id, err := identity.Generate()
		return id, name, err
	}
	pass := []byte(os.Getenv(passphraseEnv))
	defer clear(pass)
	if !identity.Exists(path) {
		id, err := identity.Generate()
		if err != nil {
			return nil, "", err
		}
		if name == "" {
			name = defaultName
		}
		if err := identity.Save(path, id, name, pass); err != nil {
			id.Destroy()
			return nil, "", fmt.Errorf("create identity: %w", err)
		}
		return id, name, nil
	}
	st, err := identity.Load(path, pass)
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		name = st.DisplayName
	}
	return st.Identity, name, nil
}
