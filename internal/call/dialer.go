package call

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/relay"
)

// DefaultRelayPort is the TCP port the embedded relay listens on for
// signaling when it is free (otherwise any free port). Media uses UDP ports
// chosen by ICE.
const DefaultRelayPort = 7717

// embeddedShutdown bounds how long Close waits for the embedded relay.
const embeddedShutdown = 3 * time.Second

// Dialer implements Connector with the real relay, protocol and media
// engine: it hosts meetings on a relay, or on a relay it runs inside this
// process, and joins them through invite links. Set the fields before the
// first call.
type Dialer struct {
	Logger *slog.Logger
	// LoopbackOnly keeps the embedded relay and all ICE on 127.0.0.1 (the
	// demo: everything runs on one machine).
	LoopbackOnly bool
	// RelayPort is the embedded relay's signaling port (DefaultRelayPort
	// when zero; any free port when taken).
	RelayPort int
	// Advertise, if set, is the host name or IP put in invite links for
	// the embedded relay (a public address with port forwarding);
	// otherwise the first private LAN address.
	Advertise string
	// UDPPortMin, UDPPortMax restrict the embedded relay's media ports (so
	// they can be forwarded); PublicIPs are announced for 1:1 NAT.
	UDPPortMin, UDPPortMax uint16
	PublicIPs              []string
	// Synthetic replaces camera and microphone with synthetic sources
	// (--demo, tests).
	Synthetic bool
	// AdmissionTimeout is how long a joiner waits for the host
	// (Config.AdmissionTimeout; zero: DefaultAdmissionTimeout).
	AdmissionTimeout time.Duration
	// Demo, if set, joins its participants to every meeting hosted and
	// admits them (--demo).
	Demo *Demo

	mu       sync.Mutex
	embedded *embeddedRelay
}

// embeddedRelay is the relay running inside this process.
type embeddedRelay struct {
	r   *relay.Relay
	srv *http.Server
	// port is the signaling port; advertise is the address put in links.
	port      int
	advertise string
}

func (e *embeddedRelay) localURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", e.port) }

// ParseInvite implements Connector.
func (c *Dialer) ParseInvite(link string) (Invite, error) {
	l, err := meeting.ParseLink(link)
	if err != nil {
		return Invite{}, err
	}
	return Invite{Link: link, Relay: l.Relay, HostFingerprint: hex.EncodeToString(l.HostFingerprint[:])}, nil
}

// Host implements Connector.
func (c *Dialer) Host(ctx context.Context, req HostRequest) (Meeting, error) {
	cfg := c.config(req.Self, req.Name, req.Contacts, req.Media)
	cfg.Host = true
	if req.OnThisComputer {
		er, err := c.startEmbedded()
		if err != nil {
			return nil, err
		}
		cfg.RelayURL = er.localURL()
		cfg.Link = meeting.Link{Relay: er.advertise, Insecure: true}
	} else {
		addr, insecure, err := ParseRelay(req.Relay)
		if err != nil {
			return nil, err
		}
		cfg.Link = meeting.Link{Relay: addr, Insecure: insecure}
	}
	if c.Demo != nil {
		cfg.AutoAdmit = c.Demo.isParticipant
	}
	call, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if c.Demo != nil {
		l, _ := meeting.ParseLink(call.InviteLink())
		relayURL := cfg.RelayURL
		if relayURL == "" {
			relayURL = l.RelayURL()
		}
		go c.Demo.join(l, relayURL)
	}
	return call, nil
}

// Join implements Connector.
func (c *Dialer) Join(ctx context.Context, req JoinRequest) (Meeting, error) {
	l, err := meeting.ParseLink(req.Invite.Link)
	if err != nil {
		return nil, err
	}
	cfg := c.config(req.Self, req.Name, req.Contacts, req.Media)
	cfg.Link = l
	if er := c.current(); er != nil && (l.Relay == er.advertise || l.Relay == fmt.Sprintf("127.0.0.1:%d", er.port)) {
		// Joining our own embedded relay: talk to it over loopback.
		cfg.RelayURL = er.localURL()
	}
	return Start(ctx, cfg)
}

func (c *Dialer) config(self *identity.Identity, name string, contacts *identity.Contacts, media MediaChoice) Config {
	w, h := media.Quality.Size()
	opts := capture.Options{Width: w, Height: h}
	switch {
	case c.Synthetic:
		opts.Video, opts.Audio = capture.SyntheticVideo(), capture.SyntheticAudio()
	default:
		if media.Camera != "" {
			opts.Video = capture.Camera(media.Camera)
		}
		if media.Microphone != "" {
			opts.Audio = capture.Microphone(media.Microphone)
		}
	}
	cfg := Config{
		Self: self, Name: name, Capture: opts,
		CameraOn: media.CameraOn, MicOn: media.MicOn, Speaker: media.Speaker,
		Processing:   media.Processing,
		LoopbackOnly: c.LoopbackOnly, Logger: c.logger(),
		AdmissionTimeout: c.AdmissionTimeout,
	}
	if contacts != nil {
		// A nil *Contacts in the interface would not read as nil.
		cfg.Contacts = contacts
	}
	return cfg
}

func (c *Dialer) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Dialer) current() *embeddedRelay {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.embedded
}

// startEmbedded starts the in-process relay once; later meetings reuse it.
func (c *Dialer) startEmbedded() (*embeddedRelay, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.embedded != nil {
		return c.embedded, nil
	}
	r, err := relay.New(relay.Config{
		Logger: c.logger(), LoopbackOnly: c.LoopbackOnly,
		UDPPortMin: c.UDPPortMin, UDPPortMax: c.UDPPortMax, PublicIPs: c.PublicIPs,
	})
	if err != nil {
		return nil, fmt.Errorf("start the relay on this computer: %w", err)
	}
	host := ""
	if c.LoopbackOnly {
		host = "127.0.0.1"
	}
	port := c.RelayPort
	if port == 0 {
		port = DefaultRelayPort
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		// The usual port is taken (perhaps by another Sotto): any port.
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("start the relay on this computer: %w", err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	adv := "127.0.0.1"
	switch {
	case c.LoopbackOnly:
	case c.Advertise != "":
		adv = c.Advertise
	default:
		if ip := lanAddress(); ip != "" {
			adv = ip
		}
	}
	c.embedded = &embeddedRelay{r: r, srv: srv, port: port, advertise: net.JoinHostPort(adv, strconv.Itoa(port))}
	return c.embedded, nil
}

// Close makes the demo's participants leave and stops the embedded relay,
// if any.
func (c *Dialer) Close() {
	if c.Demo != nil {
		c.Demo.stop()
	}
	c.mu.Lock()
	er := c.embedded
	c.embedded = nil
	c.mu.Unlock()
	if er == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), embeddedShutdown)
	defer cancel()
	er.r.Shutdown(ctx)
	er.srv.Shutdown(ctx)
}

// lanAddress returns this computer's first private IPv4 address: what
// others on the same network can reach. Empty if there is none.
func lanAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var public string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipn.IP.IsPrivate() {
			return ipn.IP.String()
		}
		if public == "" {
			public = ipn.IP.String()
		}
	}
	return public
}
