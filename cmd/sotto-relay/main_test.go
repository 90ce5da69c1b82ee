package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/internal/waittest"
	"github.com/sottohq/sotto/relay"
	"github.com/sottohq/sotto/relay/signal"
)

// selfSigned writes a certificate for 127.0.0.1 and returns the file
// paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The command serves WSS with a certificate from files; two clients meet
// through it; on shutdown both are told why.
func TestRelayCommand(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-loopback", "-tls-cert", certFile, "-tls-key", keyFile, "-log-level", "warn"},
			io.Discard, func(u string) { urlc <- u })
	}()
	var url string
	select {
	case url = <-urlc:
	case err := <-done:
		t.Fatalf("relay exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not start")
	}
	if !strings.HasPrefix(url, "wss://") {
		t.Fatalf("url %q is not wss", url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	meeting := signal.NewID()
	got := make(chan []byte, 100)
	dial := func(onTrack func(transport.RemoteTrack)) *transport.Conn {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		c, err := transport.Dial(dctx, transport.Config{URL: url, HTTPClient: hc, MeetingID: meeting, SettingEngine: signal.LoopbackOnly, OnTrack: onTrack})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c
	}
	b := dial(func(rt transport.RemoteTrack) {
		for {
			p, _, err := rt.Track.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- p.Payload:
			default:
			}
		}
	})
	a := dial(nil)
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "a")
	if _, err := a.AddTrack(track); err != nil {
		t.Fatalf("add track: %v", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i)}, Payload: []byte("opaque ciphertext")})
		}
	}()
	select {
	case p := <-got:
		if string(p) != "opaque ciphertext" {
			t.Fatalf("payload %q", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no media through the command's relay")
	}

	// Metrics and health over HTTPS.
	base := "https://" + strings.TrimSuffix(strings.TrimPrefix(url, "wss://"), "/ws")
	var st relay.Stats
	waittest.Until(t, "metrics showing the meeting", 5*time.Second, func() bool {
		resp, err := hc.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Sessions == 2 && st.Meetings == 1 && st.PacketsOut > 0
	})
	resp, err := hc.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// Graceful shutdown: every client learns the reason.
	cancel()
	for _, c := range []*transport.Conn{a, b} {
		var last transport.Event
		timeout := time.After(10 * time.Second)
	drain:
		for {
			select {
			case e, ok := <-c.Events():
				if !ok {
					break drain
				}
				last = e
			case <-timeout:
				t.Fatal("client not told about shutdown")
			}
		}
		if cl, ok := last.(transport.Closed); !ok || cl.Reason != signal.CodeShutdown {
			t.Fatalf("last event %#v, want Closed{shutdown}", last)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestFlags(t *testing.T) {
	if err := run(context.Background(), []string{"-h"}, io.Discard, nil); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, args := range [][]string{
		{"-udp-ports", "9-1"},
		{"-udp-ports", "5000"},
		{"-public-ip", "not-an-ip"},
		{"-tls-cert", "x.pem"},
		{"-log-level", "loud"},
		{"stray"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
