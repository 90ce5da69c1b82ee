package main

import (
	"bytes"
	"context"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The HTTP server's own error messages (a failed TLS handshake names the
// client's address and port) go to the relay's logger at debug level, not
// to the process's standard log, so an info-level log holds no client
// address.
func TestHTTPErrorsStayOutOfInfoLogs(t *testing.T) {
	var std syncBuffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	certFile, keyFile, _ := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-loopback", "-tls-cert", certFile, "-tls-key", keyFile, "-log-level", "info"},
			&logs, func(u string) { urlc <- u })
	}()
	var url string
	select {
	case url = <-urlc:
	case err := <-done:
		t.Fatalf("relay exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not start")
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "wss://"), "/ws")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	client := c.LocalAddr().String()
	// Not a TLS client hello: the server fails the handshake.
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 512))
	c.Close()
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for name, out := range map[string]string{"standard log": std.String(), "relay log": logs.String()} {
		if strings.Contains(out, client) || strings.Contains(out, "handshake") {
			t.Fatalf("%s names the client: %q", name, out)
		}
	}
}
