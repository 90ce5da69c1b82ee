package main

import (
	"bytes"
	"context"
	"io"
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

// failHandshake runs the command at log level level, opens a TCP
// connection that fails the TLS handshake, and returns what reached the
// standard log and the relay's log, and the client's address.
func failHandshake(t *testing.T, level string) (std, logs, client string) {
	t.Helper()
	var stdBuf, logBuf syncBuffer
	log.SetOutput(&stdBuf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	certFile, keyFile, _ := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-loopback", "-tls-cert", certFile, "-tls-key", keyFile, "-log-level", level},
			&logBuf, func(u string) { urlc <- u })
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
	client = c.LocalAddr().String()
	// Neither a TLS client hello nor an HTTP request (the server answers
	// those with a 400 and logs nothing): the handshake fails and is logged.
	c.Write([]byte("hello, this is not tls\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The server logs the failure before it closes the connection, so
	// reading to the end waits for the log line.
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("waiting for the server to close: %v", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return stdBuf.String(), logBuf.String(), client
}

// The HTTP server's own error messages (a failed TLS handshake names the
// client's address and port) go to the relay's logger at debug level, not
// to the process's standard log, so an info-level log holds no client
// address.
func TestHTTPErrorsStayOutOfInfoLogs(t *testing.T) {
	std, logs, client := failHandshake(t, "info")
	for name, out := range map[string]string{"standard log": std, "relay log": logs} {
		if strings.Contains(out, client) || strings.Contains(out, "handshake") {
			t.Fatalf("%s names the client: %q", name, out)
		}
	}
	// At debug level the same failure is in the relay's log: the check
	// above looked at a message that exists.
	std, logs, _ = failHandshake(t, "debug")
	if !strings.Contains(logs, "handshake") {
		t.Fatalf("debug log lacks the handshake failure: %q", logs)
	}
	if std != "" {
		t.Fatalf("standard log got %q", std)
	}
}
