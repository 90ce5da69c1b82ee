package main

// Meeting protocol mode of sotto-bot: the bot joins through the waiting
// room with its own identity and gets per-sender keys from the meeting
// protocol instead of -test-key.
//
//	host:   sotto-bot -relay ws://127.0.0.1:8080/ws -meeting <id> -host -admit all -link-out link.txt
//	joiner: sotto-bot -link "$(cat link.txt)" -identity bot.key -name "Bot 2"
//
// A host bot writes its link to -link-out, or prints it to stderr without
// one (the link carries the invite key: with a file, it stays out of the
// bot's log stream); with -admit all it admits every joiner, which only
// test meetings should do.
//
// main.go wires it in: parseFlags calls registerMeetingFlags and takes
// -relay and -meeting from -link (meetingTransport); newKeying picks
// newMeetingKeying in meeting mode; run prints statsLine, which adds the
// roster epoch, security code and per-sender key state.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/meetingnet"
	"github.com/sottohq/sotto/participant"
	"github.com/sottohq/sotto/transport"
)

// passphraseEnv names the environment variable holding the keystore
// passphrase (empty when unset: the keystore is then unprotected).
const passphraseEnv = "SOTTO_PASSPHRASE"

// meetingOptions are the meeting protocol flags.
type meetingOptions struct {
	link     string
	host     bool
	linkOut  string
	identity string
	name     string
	admit    string
}

// meetingOpts is filled by the flags registerMeetingFlags adds. Flag values
// are written and read under meetingOptsMu, so tests may parse the command
// line of one bot while another bot runs.
var (
	meetingOptsMu sync.Mutex
	meetingOpts   meetingOptions
)

// registerMeetingFlags adds the meeting protocol's flags to fs and resets
// them to their defaults.
func registerMeetingFlags(fs *flag.FlagSet) {
	meetingOptsMu.Lock()
	meetingOpts = meetingOptions{admit: "ask"}
	meetingOptsMu.Unlock()
	fs.Var(lockedString{&meetingOpts.link}, "link", "join the meeting of this `link` (sotto:// or sotto+insecure://) through its waiting room")
	fs.Var(lockedBool{&meetingOpts.host}, "host", "host a new meeting on -relay with ID -meeting and print its link")
	fs.Var(lockedString{&meetingOpts.linkOut}, "link-out", "with -host: write the link to this `file` (mode 0600) instead of stderr")
	fs.Var(lockedString{&meetingOpts.identity}, "identity", "identity keystore `file` (created if missing; passphrase from $"+passphraseEnv+"); default: a fresh identity per run")
	fs.Var(lockedString{&meetingOpts.name}, "name", "display `name` (default: the keystore's, else \"sotto-bot\")")
	fs.Var(lockedString{&meetingOpts.admit}, "admit", "with -host: admission `policy`: ask (the host decides; nobody for a bot), verified (verified contacts), all (test bots)")
}

// currentMeetingOptions returns a copy of the parsed flags.
func currentMeetingOptions() meetingOptions {
	meetingOptsMu.Lock()
	defer meetingOptsMu.Unlock()
	return meetingOpts
}

// lockedString is a string flag written under meetingOptsMu.
type lockedString struct{ p *string }

func (v lockedString) String() string {
	if v.p == nil {
		return ""
	}
	meetingOptsMu.Lock()
	defer meetingOptsMu.Unlock()
	return *v.p
}

func (v lockedString) Set(s string) error {
	meetingOptsMu.Lock()
	defer meetingOptsMu.Unlock()
	*v.p = s
	return nil
}

// lockedBool is a boolean flag written under meetingOptsMu.
type lockedBool struct{ p *bool }

func (v lockedBool) IsBoolFlag() bool { return true }

func (v lockedBool) String() string {
	if v.p == nil {
		return "false"
	}
	meetingOptsMu.Lock()
	defer meetingOptsMu.Unlock()
	return strconv.FormatBool(*v.p)
}

func (v lockedBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	meetingOptsMu.Lock()
	defer meetingOptsMu.Unlock()
	*v.p = b
	return nil
}

// meetingMode reports whether the meeting protocol supplies the keys.
func meetingMode() bool {
	o := currentMeetingOptions()
	return o.link != "" || o.host
}

// meetingTransport returns the relay URL and meeting ID named by -link.
func meetingTransport() (relayURL, meetingID string, err error) {
	l, err := meeting.ParseLink(currentMeetingOptions().link)
	if err != nil {
		return "", "", err
	}
	return l.RelayURL(), l.MeetingID.String(), nil
}

// meetingKeying gets the bot's keys from the meeting protocol.
type meetingKeying struct {
	opts      meetingOptions
	relayURL  string
	meetingID string
	id        *identity.Identity
	name      string
	policy    meeting.Policy
	link      meeting.Link // joiner: the parsed link; host: the link it made

	s      *meetingnet.Session
	cancel context.CancelFunc
	// linkWriter receives the host's link (stderr by default).
	linkWriter func(string)
}

// newMeetingKeying prepares the meeting protocol for a bot joining meeting
// meetingID on relayURL (the -relay and -meeting flags).
func newMeetingKeying(relayURL, meetingID string) (*meetingKeying, error) {
	o := currentMeetingOptions()
	if o.host == (o.link != "") {
		return nil, errors.New("give exactly one of -host and -link")
	}
	k := &meetingKeying{opts: o, relayURL: relayURL, meetingID: meetingID, name: o.name}
	switch o.admit {
	case "ask":
		k.policy = meeting.PolicyAsk
	case "verified":
		k.policy = meeting.PolicyAdmitVerified
	case "all":
		k.policy = meeting.PolicyAdmitAll
	default:
		return nil, fmt.Errorf("unknown -admit %q (ask, verified or all)", o.admit)
	}
	if o.link != "" {
		l, err := meeting.ParseLink(o.link)
		if err != nil {
			return nil, err
		}
		k.link = l
		if l.RelayURL() != relayURL || l.MeetingID.String() != meetingID {
			return nil, errors.New("-relay and -meeting differ from the link's")
		}
	}
	if err := k.loadIdentity(); err != nil {
		return nil, err
	}
	if k.name == "" {
		k.name = "sotto-bot"
	}
	k.linkWriter = func(s string) { fmt.Fprintln(os.Stderr, "sotto-bot: meeting link:", s) }
	return k, nil
}

func (k *meetingKeying) loadIdentity() error {
	path := k.opts.identity
	if path == "" {
		id, err := identity.Generate()
		k.id = id
		return err
	}
	pass := []byte(os.Getenv(passphraseEnv))
	if !identity.Exists(path) {
		id, err := identity.Generate()
		if err != nil {
			return err
		}
		name := k.name
		if name == "" {
			name = "sotto-bot"
		}
		if err := identity.Save(path, id, name, pass); err != nil {
			return fmt.Errorf("create identity: %w", err)
		}
		k.id = id
		return nil
	}
	st, err := identity.Load(path, pass)
	if err != nil {
		return err
	}
	k.id = st.Identity
	if k.name == "" {
		k.name = st.DisplayName
	}
	return nil
}

// hostLink builds the link of a hosted meeting from the relay URL.
func hostLink(relayURL string, inv meeting.Invite) (meeting.Link, error) {
	u, err := url.Parse(relayURL)
	if err != nil || u.Host == "" || u.Path != "/ws" || u.RawQuery != "" {
		return meeting.Link{}, errors.New("-relay must be ws://HOST[:PORT]/ws or wss://HOST[:PORT]/ws to make a link")
	}
	l := meeting.Link{Relay: u.Host, Invite: inv}
	switch u.Scheme {
	case "ws":
		l.Insecure = true
	case "wss":
	default:
		return meeting.Link{}, errors.New("-relay scheme must be ws or wss")
	}
	// Round-trip through the parser so a bad address fails here.
	return meeting.ParseLink(l.String())
}

func (k *meetingKeying) start(p *participant.Participant) error {
	cfg := meetingnet.Config{
		Conn: p.Conn(), Engine: p, Identity: k.id, Name: k.name, Policy: k.policy, Peers: p.Conn().Peers(),
	}
	var err error
	if k.opts.host {
		mid, perr := meeting.ParseMeetingID(k.meetingID)
		if perr != nil {
			return fmt.Errorf("meeting id: %w", perr)
		}
		if k.s, err = meetingnet.Host(cfg, mid); err != nil {
			return err
		}
		if k.link, err = hostLink(k.relayURL, k.s.Invite()); err != nil {
			return err
		}
		if err := k.announceLink(k.link.String()); err != nil {
			return err
		}
	} else if k.s, err = meetingnet.Join(cfg, k.link.Invite); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go k.s.RunTimers(ctx)
	return nil
}

// announceLink gives the host's link to the operator: in the -link-out
// file when there is one, else on stderr. The link's fragment is the
// invite key, so it goes to the bot's log stream only when there is no file
// for it.
func (k *meetingKeying) announceLink(link string) error {
	if k.opts.linkOut == "" {
		k.linkWriter(link)
		return nil
	}
	if err := os.WriteFile(k.opts.linkOut, []byte(link+"\n"), 0o600); err != nil {
		return fmt.Errorf("write link: %w", err)
	}
	return nil
}

func (k *meetingKeying) event(_ *participant.Participant, ev transport.Event) error {
	k.s.Handle(ev)
	return nil
}

// stop leaves the meeting (telling the host) and stops the timers.
func (k *meetingKeying) stop() {
	if k.s == nil {
		return
	}
	k.s.Leave(time.Second)
	k.cancel()
	k.s.Close()
	k.id.Destroy()
}

// snapshot returns the meeting state for the statistics line.
func (k *meetingKeying) snapshot() *meetingnet.Snapshot {
	if k.s == nil {
		return nil
	}
	s := k.s.Snapshot()
	return &s
}

// botStats is the statistics line: the participant's media statistics and,
// in meeting mode, the roster epoch, security code and per-sender key state.
type botStats struct {
	participant.Stats
	Meeting *meetingnet.Snapshot `json:"meeting,omitempty"`
}

// statsLine adds the meeting state to st when keys come from the meeting
// protocol.
func statsLine(st participant.Stats, keys keying) botStats {
	out := botStats{Stats: st}
	if mk, ok := keys.(*meetingKeying); ok {
		out.Meeting = mk.snapshot()
	}
	return out
}
