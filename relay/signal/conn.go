package signal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// Conn carries signaling messages, one message per Read or Write. It is
// safe for one reader and one writer at a time, and Close may be called
// concurrently with both.
type Conn interface {
	// Read returns the next message. After the peer closed, it returns a
	// *CloseError with the peer's reason. Cancelling ctx may close the
	// connection (it does for WebSocket connections).
	Read(ctx context.Context) ([]byte, error)
	// Write sends one message.
	Write(ctx context.Context, msg []byte) error
	// Close ends the connection, telling the peer reason (at most
	// MaxReasonLen bytes; longer reasons are cut).
	Close(reason string) error
}

// CloseError is returned by Read and Write once the connection is closed.
// Reason is the closing side's reason, which may be empty.
type CloseError struct {
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "signal: connection closed"
	}
	return "signal: connection closed: " + e.Reason
}

// CloseReason returns the reason carried by a *CloseError in err's chain,
// and whether there was one.
func CloseReason(err error) (string, bool) {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Reason, true
	}
	return "", false
}

func cutReason(r string) string {
	if len(r) > MaxReasonLen {
		r = r[:MaxReasonLen]
	}
	return r
}

// Pipe returns two connected in-memory Conns. Messages are delivered in
// order; each side buffers a few messages before Write blocks. Pipe uses
// only channels, so it works inside testing/synctest bubbles.
func Pipe() (Conn, Conn) {
	ab := make(chan []byte, 64)
	ba := make(chan []byte, 64)
	st := &pipeState{done: make(chan struct{})}
	return &pipeConn{in: ba, out: ab, st: st}, &pipeConn{in: ab, out: ba, st: st}
}

type pipeState struct {
	once   sync.Once
	done   chan struct{}
	reason string
}

type pipeConn struct {
	in, out chan []byte
	st      *pipeState
}

func (p *pipeConn) closeErr() error {
	return &CloseError{Reason: p.st.reason}
}

func (p *pipeConn) Read(ctx context.Context) ([]byte, error) {
	// Deliver what was sent before a close, like a stream would.
	select {
	case m := <-p.in:
		return m, nil
	default:
	}
	select {
	case m := <-p.in:
		return m, nil
	case <-p.st.done:
		select {
		case m := <-p.in:
			return m, nil
		default:
		}
		return nil, p.closeErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeConn) Write(ctx context.Context, msg []byte) error {
	select {
	case <-p.st.done:
		return p.closeErr()
	default:
	}
	c := make([]byte, len(msg))
	copy(c, msg)
	select {
	case p.out <- c:
		return nil
	case <-p.st.done:
		return p.closeErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeConn) Close(reason string) error {
	p.st.once.Do(func() {
		p.st.reason = cutReason(reason)
		close(p.st.done)
	})
	return nil
}

// WebSocket adapts a WebSocket connection to Conn. Messages are text frames;
// a binary frame is a protocol error. Read is limited to MaxMessageLen
// bytes unless limit is smaller and positive.
func WebSocket(c *websocket.Conn, limit int64) Conn {
	if limit <= 0 || limit > MaxMessageLen {
		limit = MaxMessageLen
	}
	c.SetReadLimit(limit)
	return &wsConn{c: c}
}

type wsConn struct {
	c *websocket.Conn
}

// ErrBinaryFrame is returned by a WebSocket Conn's Read for a binary frame.
var ErrBinaryFrame = errors.New("signal: binary frame")

// ErrTooBig is returned by a WebSocket Conn's Read for a message over the
// read limit; the connection is closed with status 1009.
var ErrTooBig = errors.New("signal: message too big")

func (w *wsConn) mapErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.StatusMessageTooBig {
			return errors.Join(ErrTooBig, &CloseError{Reason: ce.Reason})
		}
		return &CloseError{Reason: ce.Reason}
	}
	return err
}

func (w *wsConn) Read(ctx context.Context) ([]byte, error) {
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		if errors.Is(err, websocket.ErrMessageTooBig) {
			return nil, ErrTooBig
		}
		return nil, w.mapErr(err)
	}
	if typ != websocket.MessageText {
		return nil, ErrBinaryFrame
	}
	return b, nil
}

func (w *wsConn) Write(ctx context.Context, msg []byte) error {
	return w.mapErr(w.c.Write(ctx, websocket.MessageText, msg))
}

func (w *wsConn) Close(reason string) error {
	return w.c.Close(websocket.StatusNormalClosure, cutReason(reason))
}

// DialWebSocket opens a signaling connection to a relay's WebSocket URL
// (ws:// or wss://). client may be nil for http.DefaultClient.
func DialWebSocket(ctx context.Context, url string, client *http.Client) (Conn, error) {
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("signal: dial relay: %w", err)
	}
	return WebSocket(c, 0), nil
}
