package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/media/capture"
	"github.com/sottohq/sotto/relay"
)

// DefaultRelayPort is the TCP port the embedded relay listens on for
// signaling when it is free (otherwise any free port). Media uses UDP ports
// chosen by ICE.
const DefaultRelayPort = 7717

// connector implements app.Connector with the real relay, protocol and
// media engine.
type connector struct {
	log *slog.Logger
	// loopbackOnly keeps the embedded relay and all ICE on 127.0.0.1 (the
	// demo: everything runs on one machine).
	loopbackOnly bool
	relayPort    int
	// advertise, if set, is the host name or IP put in invite links for the
	// embedded relay (a public address with port forwarding); otherwise the
	// first private LAN address.
	advertise string
	// udpMin, udpMax restrict the embedded relay's media ports (so they can
	// be forwarded); publicIPs are announced for 1:1 NAT.
	udpMin, udpMax uint16
	publicIPs      []string
	// syntheticMedia replaces camera and microphone (demo).
	syntheticMedia bool
	// autoAdmit and onHosted are demo hooks.
	autoAdmit func(identity.Public) bool
	onHosted  func(link meeting.Link, relayURL string)

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

// ParseInvite implements app.Connector.
func (c *connector) ParseInvite(link string) (app.Invite, error) {
	l, err := meeting.ParseLink(link)
	if err != nil {
		return app.Invite{}, err
	}
	return app.Invite{Link: link, Relay: l.Relay, HostFingerprint: hex.EncodeToString(l.HostFingerprint[:])}, nil
}

// Host implements app.Connector.
func (c *connector) Host(ctx context.Context, req app.HostRequest) (app.Meeting, error) {
	cfg := c.sessionConfig(req.Self, req.Name, req.Contacts, req.Media)
	cfg.Host = true
	if req.OnThisComputer {
		er, err := c.startEmbedded()
		if err != nil {
			return nil, err
		}
		cfg.RelayURL = fmt.Sprintf("ws://127.0.0.1:%d/ws", er.port)
		cfg.Link = meeting.Link{Relay: er.advertise, Insecure: true}
	} else {
		addr, insecure, err := parseRelaySetting(req.Relay)
		if err != nil {
			return nil, err
		}
		cfg.Link = meeting.Link{Relay: addr, Insecure: insecure}
		cfg.RelayURL = cfg.Link.RelayURL()
	}
	s, err := startSession(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if c.onHosted != nil {
		l, _ := meeting.ParseLink(s.link)
		go c.onHosted(l, cfg.RelayURL)
	}
	return s, nil
}

// Join implements app.Connector.
func (c *connector) Join(ctx context.Context, req app.JoinRequest) (app.Meeting, error) {
	l, err := meeting.ParseLink(req.Invite.Link)
	if err != nil {
		return nil, err
	}
	cfg := c.sessionConfig(req.Self, req.Name, req.Contacts, req.Media)
	cfg.Link = l
	cfg.RelayURL = l.RelayURL()
	if er := c.current(); er != nil && (l.Relay == er.advertise || l.Relay == fmt.Sprintf("127.0.0.1:%d", er.port)) {
		// Joining our own embedded relay: talk to it over loopback.
		cfg.RelayURL = fmt.Sprintf("ws://127.0.0.1:%d/ws", er.port)
	}
	return startSession(ctx, cfg)
}

func (c *connector) sessionConfig(self *identity.Identity, name string, contacts *identity.Contacts, media app.MediaChoice) sessionConfig {
	w, h := media.Quality.Size()
	opts := capture.Options{Width: w, Height: h}
	switch {
	case c.syntheticMedia:
		opts.Video, opts.Audio = capture.SyntheticVideo(), capture.SyntheticAudio()
	default:
		if media.Camera != "" {
			opts.Video = capture.Camera(media.Camera)
		}
		if media.Microphone != "" {
			opts.Audio = capture.Microphone(media.Microphone)
		}
	}
	cfg := sessionConfig{
		Self: self, Name: name, Capture: opts,
		CameraOn: media.CameraOn, MicOn: media.MicOn, Speaker: media.Speaker,
		LoopbackOnly: c.loopbackOnly, AutoAdmit: c.autoAdmit, Logger: c.log,
	}
	if contacts != nil {
		// A nil *Contacts in the interface would not read as nil.
		cfg.Contacts = contacts
	}
	return cfg
}

func (c *connector) current() *embeddedRelay {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.embedded
}

// startEmbedded starts the in-process relay once; later meetings reuse it.
func (c *connector) startEmbedded() (*embeddedRelay, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.embedded != nil {
		return c.embedded, nil
	}
	r, err := relay.New(relay.Config{
		Logger: c.log, LoopbackOnly: c.loopbackOnly,
		UDPPortMin: c.udpMin, UDPPortMax: c.udpMax, PublicIPs: c.publicIPs,
	})
	if err != nil {
		return nil, fmt.Errorf("start the relay on this computer: %w", err)
	}
	host := ""
	if c.loopbackOnly {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(c.relayPort)))
	if err != nil {
		// The usual port is taken (perhaps by another Sotto): any port.
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("start the relay on this computer: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	adv := "127.0.0.1"
	switch {
	case c.loopbackOnly:
	case c.advertise != "":
		adv = c.advertise
	default:
		if ip := lanAddress(); ip != "" {
			adv = ip
		}
	}
	c.embedded = &embeddedRelay{r: r, srv: srv, port: port, advertise: net.JoinHostPort(adv, strconv.Itoa(port))}
	return c.embedded, nil
}

// close stops the embedded relay, if any.
func (c *connector) close() {
	c.mu.Lock()
	er := c.embedded
	c.embedded = nil
	c.mu.Unlock()
	if er == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
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

// parseRelaySetting reads the relay setting: "host:port" (TLS) or
// "ws://host:port" (plain, for a relay on a trusted network).
func parseRelaySetting(s string) (addr string, insecure bool, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", false, errors.New("no relay address is set: add one in Settings, or host on this computer")
	case strings.HasPrefix(s, "ws://"):
		s, insecure = strings.TrimPrefix(s, "ws://"), true
	case strings.HasPrefix(s, "wss://"):
		s = strings.TrimPrefix(s, "wss://")
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), "/ws")
	// Let the link parser judge the address, so a relay that can be
	// hosted can also be joined.
	var probe meeting.Link
	probe.Relay, probe.InviteKey[0] = s, 1
	if _, err := meeting.ParseLink(probe.String()); err != nil {
		return "", false, fmt.Errorf("the relay address %q is not valid", s)
	}
	return s, insecure, nil
}
