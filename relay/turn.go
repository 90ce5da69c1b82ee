package relay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/sottohq/sotto/relay/signal"
)

// TURNConfig configures the embedded TURN server: a fallback for clients
// whose networks allow neither direct UDP nor ICE-TCP to the relay.
type TURNConfig struct {
	// Listen is the UDP address the TURN server listens on, e.g. ":3478".
	Listen string
	// Host is the host name or IP clients use to reach it (in the turn: URL).
	Host string
	// RelayIP is the address allocations are announced with; it must be
	// reachable from the relay's media sockets.
	RelayIP string
	// PortMin and PortMax bound the ports used for allocations.
	PortMin, PortMax uint16
	// CredentialLifetime is how long credentials handed to a client stay
	// valid (default 12 h).
	CredentialLifetime time.Duration
}

// TURN is a running embedded TURN server. It hands out short-lived
// credentials derived from a secret that exists only in memory, and relays
// only to the SFU's own addresses, so it is not an open proxy.
type TURN struct {
	srv      *turn.Server
	secret   string
	url      string
	lifetime time.Duration
}

// StartTURN starts the embedded TURN server. allowedPeers are the only
// addresses it relays to (the relay's media addresses); the host's own
// interface addresses are always allowed.
func StartTURN(cfg TURNConfig, allowedPeers []string) (*TURN, error) {
	if cfg.Host == "" || cfg.RelayIP == "" {
		return nil, errors.New("relay: turn needs a host and a relay ip")
	}
	relayIP := net.ParseIP(cfg.RelayIP)
	if relayIP == nil {
		return nil, errors.New("relay: turn relay ip is not an ip address")
	}
	if cfg.PortMin == 0 || cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = 49152, 65535
	}
	if cfg.CredentialLifetime <= 0 {
		cfg.CredentialLifetime = 12 * time.Hour
	}
	allowed := map[string]bool{relayIP.String(): true}
	for _, p := range allowedPeers {
		if ip := net.ParseIP(p); ip != nil {
			allowed[ip.String()] = true
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				allowed[ipn.IP.String()] = true
			}
		}
	}
	pc, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay: turn listen: %w", err)
	}
	var sb [32]byte
	if _, err := rand.Read(sb[:]); err != nil {
		pc.Close()
		return nil, fmt.Errorf("relay: turn secret: %w", err)
	}
	secret := hex.EncodeToString(sb[:])
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = io.Discard
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         "sotto",
		AuthHandler:   turn.NewLongTermAuthHandler(secret, lf.NewLogger("turn")),
		LoggerFactory: lf,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorPortRange{
				RelayAddress: relayIP,
				Address:      "0.0.0.0",
				MinPort:      cfg.PortMin,
				MaxPort:      cfg.PortMax,
			},
			PermissionHandler: func(_ net.Addr, peer net.IP) bool { return allowed[peer.String()] },
		}},
	})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("relay: turn server: %w", err)
	}
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	return &TURN{
		srv:      srv,
		secret:   secret,
		url:      "turn:" + net.JoinHostPort(cfg.Host, port) + "?transport=udp",
		lifetime: cfg.CredentialLifetime,
	}, nil
}

// ICEServers returns fresh credentials for one client; use it as
// Config.ICEServersFor.
func (t *TURN) ICEServers() []signal.ICEServer {
	user, pass, err := turn.GenerateLongTermCredentials(t.secret, t.lifetime)
	if err != nil {
		return nil
	}
	return []signal.ICEServer{{URLs: []string{t.url}, Username: user, Credential: pass}}
}

// URL is the turn: URL clients are given.
func (t *TURN) URL() string { return t.url }

// Close stops the TURN server.
func (t *TURN) Close() error { return t.srv.Close() }
