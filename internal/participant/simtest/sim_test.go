package simtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"

	"github.com/sottohq/sotto/internal/participant"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/vnettest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// simNet is one virtual network: the relay at 10.0.0.1 and participants
// at 10.0.0.2 and up, every packet through one router (cfg's delay, and
// the chunk filters given).
type simNet struct {
	router *vnet.Router
	hosts  []*vnet.Net // [0] is the relay's
}

func newSimNet(t *testing.T, cfg vnet.RouterConfig, hosts int, filters ...vnet.ChunkFilter) *simNet {
	t.Helper()
	cfg.CIDR = "10.0.0.0/24"
	cfg.LoggerFactory = logging.NewDefaultLoggerFactory()
	router, err := vnet.NewRouter(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range filters {
		router.AddChunkFilter(f)
	}
	n := &simNet{router: router}
	for i := range hosts {
		n.hosts = append(n.hosts, vnettest.Host(t, router, fmt.Sprintf("10.0.0.%d", i+1)))
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

// simMeeting is the real relay on a simNet and the participants joined to
// one meeting on it, each through its own relay connection (dialled once,
// as internal/call does).
type simMeeting struct {
	t       *testing.T
	net     *simNet
	relay   *relay.Relay
	meeting signal.ID
	conns   []*transport.Conn
	parts   []*participant.Participant
}

func newSimMeeting(t *testing.T, n *simNet) *simMeeting {
	t.Helper()
	r, err := relay.New(relay.Config{Net: n.hosts[0]})
	if err != nil {
		t.Fatal(err)
	}
	return &simMeeting{t: t, net: n, relay: r, meeting: signal.NewID()}
}

// join starts a participant with cfg on host (1 for 10.0.0.2, …); its
// connection's events are drained.
func (m *simMeeting) join(host int, cfg participant.Config) (*participant.Participant, *transport.Conn) {
	m.t.Helper()
	cli, srv := signal.Pipe()
	go m.relay.ServeConn(context.Background(), srv)
	cfg.MeetingID = m.meeting
	p, err := participant.New(cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	conn, err := transport.Dial(context.Background(), transport.Config{Conn: cli, MeetingID: m.meeting, Net: m.net.hosts[host], OnTrack: p.OnTrack})
	if err != nil {
		m.t.Fatalf("join: %v", err)
	}
	if err := p.Start(conn); err != nil {
		m.t.Fatal(err)
	}
	m.conns = append(m.conns, conn)
	m.parts = append(m.parts, p)
	go func() {
		for range conn.Events() {
		}
	}()
	return p, conn
}

// close ends every connection, then the participants, the relay and the
// network, so that nothing is left running in the bubble.
func (m *simMeeting) close() {
	m.t.Helper()
	for _, c := range m.conns {
		c.Close()
	}
	for _, p := range m.parts {
		p.Close()
	}
	if err := m.relay.Shutdown(context.Background()); err != nil {
		m.t.Fatal(err)
	}
	m.net.router.Stop()
}
