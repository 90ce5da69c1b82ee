// Command sotto-relay runs a Sotto relay: a selective forwarding unit that
// forwards encrypted media and opaque envelopes between the participants of
// meetings. It stores nothing and never sees names, keys or content.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sottohq/sotto/relay"
)

const usage = `sotto-relay: a self-hostable Sotto relay (forwards only ciphertext).

Usage: sotto-relay [flags]

Endpoints: /ws (signaling, WebSocket), /healthz, /metrics (JSON counters).
Open to clients: the -listen TCP port, the -udp-ports range (UDP), and if
set the -ice-tcp port (TCP) and the -turn-listen port plus -turn-ports (UDP).

Flags:
`

type config struct {
	listen, tlsCert, tlsKey string
	udpPorts, publicIP      string
	iceTCP                  int
	loopback                bool
	turnListen, turnHost    string
	turnRelayIP, turnPorts  string
	logLevel, cpuProfile    string
	lim                     relay.Limits
	shutdownGrace           time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "sotto-relay:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("sotto-relay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	d := relay.DefaultLimits
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "HTTP(S) `address` for signaling, health and metrics")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM); with -tls-key serves HTTPS/WSS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&c.udpPorts, "udp-ports", "", "UDP port `range` MIN-MAX for media (default: ephemeral ports)")
	fs.StringVar(&c.publicIP, "public-ip", "", "public `IP`s (comma-separated) to announce when behind 1:1 NAT")
	fs.IntVar(&c.iceTCP, "ice-tcp", 0, "TCP `port` for ICE-TCP, the fallback for UDP-blocked networks (0: off)")
	fs.BoolVar(&c.loopback, "loopback", false, "use only 127.0.0.1 for media (local testing)")
	fs.StringVar(&c.turnListen, "turn-listen", "", "UDP `address` for the embedded TURN server, e.g. :3478 (empty: off)")
	fs.StringVar(&c.turnHost, "turn-host", "", "host name or IP clients use for TURN (default: first -public-ip)")
	fs.StringVar(&c.turnRelayIP, "turn-relay-ip", "", "`IP` TURN allocations use (default: first -public-ip)")
	fs.StringVar(&c.turnPorts, "turn-ports", "", "UDP port `range` MIN-MAX for TURN allocations (default 49152-65535)")
	fs.IntVar(&c.lim.MaxMessageBytes, "max-message", d.MaxMessageBytes, "maximum signaling message `bytes`")
	fs.Float64Var(&c.lim.EnvelopeRate, "envelope-rate", d.EnvelopeRate, "envelopes per second per session")
	fs.IntVar(&c.lim.EnvelopeBurst, "envelope-burst", d.EnvelopeBurst, "envelope burst per session")
	fs.Float64Var(&c.lim.MessageRate, "message-rate", d.MessageRate, "signaling messages per second per session before it is closed")
	fs.IntVar(&c.lim.MaxSessionsPerMeeting, "max-sessions", d.MaxSessionsPerMeeting, "participants per meeting")
	fs.IntVar(&c.lim.MaxMeetings, "max-meetings", d.MaxMeetings, "meetings on this relay")
	fs.IntVar(&c.lim.MaxConnections, "max-connections", d.MaxConnections, "signaling connections, joined or not")
	fs.IntVar(&c.lim.MaxTracksPerSession, "max-tracks", d.MaxTracksPerSession, "tracks one participant may publish")
	fs.IntVar(&c.lim.MaxTrackPacketRate, "max-track-pps", d.MaxTrackPacketRate, "RTP packets per second forwarded per track (and burst)")
	fs.DurationVar(&c.lim.IdleTimeout, "idle-timeout", d.IdleTimeout, "close sessions silent this long")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 5*time.Second, "time clients get to close on shutdown")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile to `file` until shutdown (performance work)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	return c, nil
}

func parseRange(s string) (uint16, uint16, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q is not MIN-MAX", s)
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return 0, 0, fmt.Errorf("port range %q is not MIN-MAX with 0 < MIN <= MAX", s)
	}
	return uint16(a), uint16(b), nil
}

// run serves until ctx is done, then shuts down gracefully. ready, if not
// nil, receives the signaling URL once listening.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(url string)) error {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))

	cfg := relay.Config{Logger: log, Limits: c.lim, LoopbackOnly: c.loopback}
	if c.udpPorts != "" {
		if cfg.UDPPortMin, cfg.UDPPortMax, err = parseRange(c.udpPorts); err != nil {
			return fmt.Errorf("-udp-ports: %w", err)
		}
	}
	var publicIPs []string
	for _, ip := range strings.Split(c.publicIP, ",") {
		if ip = strings.TrimSpace(ip); ip == "" {
			continue
		}
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("-public-ip: %q is not an IP address", ip)
		}
		publicIPs = append(publicIPs, ip)
	}
	cfg.PublicIPs = publicIPs
	if c.iceTCP != 0 {
		host := ""
		if c.loopback {
			host = "127.0.0.1"
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(c.iceTCP)))
		if err != nil {
			return fmt.Errorf("-ice-tcp: %w", err)
		}
		cfg.ICETCP = ln
	}
	if c.turnListen != "" {
		tc := relay.TURNConfig{Listen: c.turnListen, Host: c.turnHost, RelayIP: c.turnRelayIP}
		if len(publicIPs) > 0 {
			if tc.Host == "" {
				tc.Host = publicIPs[0]
			}
			if tc.RelayIP == "" {
				tc.RelayIP = publicIPs[0]
			}
		}
		if c.loopback {
			if tc.Host == "" {
				tc.Host = "127.0.0.1"
			}
			if tc.RelayIP == "" {
				tc.RelayIP = "127.0.0.1"
			}
		}
		if c.turnPorts != "" {
			if tc.PortMin, tc.PortMax, err = parseRange(c.turnPorts); err != nil {
				return fmt.Errorf("-turn-ports: %w", err)
			}
		}
		t, err := relay.StartTURN(tc, publicIPs)
		if err != nil {
			return fmt.Errorf("-turn-listen (needs -public-ip or -turn-host and -turn-relay-ip): %w", err)
		}
		defer t.Close()
		cfg.ICEServersFor = t.ICEServers
		log.Info("turn server listening", "url", t.URL())
	}

	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	// The HTTP server's own messages (a failed TLS handshake names the
	// client's address) go to the relay's log at debug level, like the
	// WebRTC stack's: never to the standard log, never above debug.
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	tls := c.tlsCert != ""
	if !tls {
		if h, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(h).IsLoopback() {
			log.Warn("serving plain WebSocket on a non-loopback address; use -tls-cert/-tls-key or a TLS proxy in front")
		}
	}
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	scheme := "ws"
	if tls {
		scheme = "wss"
	}
	url := scheme + "://" + ln.Addr().String() + "/ws"
	log.Info("relay listening", "signaling", url, "udp_ports", c.udpPorts, "ice_tcp", c.iceTCP, "public_ips", len(publicIPs))
	if ready != nil {
		ready(url)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: telling clients")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	rerr := r.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	return rerr
}
