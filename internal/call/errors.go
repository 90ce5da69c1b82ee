package call

// What a user reads when a meeting cannot start or an action fails: one
// plain sentence with what to do. The error's own text, which names
// packages and system calls, is for the "Details" control. Neither holds
// key material: link errors name the faulty part, never its content.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/sottohq/sotto/crypto/meeting"
	"github.com/sottohq/sotto/internal/transport"
	"github.com/sottohq/sotto/relay/signal"
)

// ErrRelayNoAnswer means the relay accepted the connection but did not
// confirm the join in time.
var ErrRelayNoAnswer = errors.New("the relay did not answer")

// dialRelay is transport.Dial bounded by timeout (0: connectTimeout).
func dialRelay(ctx context.Context, tc transport.Config, timeout time.Duration) (*transport.Conn, error) {
	if timeout <= 0 {
		timeout = connectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := transport.Dial(dctx, tc)
	if err != nil && ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w within %v: %w", ErrRelayNoAnswer, timeout, err)
	}
	return conn, err
}

// ErrorMessage turns an error from starting or running a meeting into a
// sentence for the user that says what to do.
func ErrorMessage(err error) string {
	var (
		rejected *transport.RejectedError
		dns      *net.DNSError
		path     *os.PathError
		unknown  x509.UnknownAuthorityError
		host     x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errNoScreen):
		return "No screen was found to share. On Linux, sharing needs an X11 (or XWayland) session."
	case errors.Is(err, errNoCamera):
		return "No camera is available. Connect one, then leave and join again."
	case errors.Is(err, meeting.ErrLink):
		return linkMessage(err)
	case errors.Is(err, ErrRelayNoAnswer):
		return "The relay accepted the connection but did not answer. It may be overloaded, or the address may point to something that is not a Sotto relay. Try again later, or check the relay address."
	case errors.As(err, &rejected):
		switch rejected.Code {
		case signal.CodeMeetingFull:
			return "The meeting is full: the relay takes no more participants in it. Ask the host, or try again when someone has left."
		case signal.CodeRelayFull:
			return "The relay is busy: it takes no more meetings right now. Try again later, or use another relay."
		case signal.CodeShutdown:
			return "The relay is shutting down. Try again in a minute."
		}
		return "The relay refused to let you in. Try again; if it keeps happening, tell whoever runs the relay."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Nothing answered at the relay's address: the relay is not running there, or the address or port is wrong. Check the relay address (in Settings, or ask the host for a new link)."
	case errors.As(err, &dns):
		return "The relay's name could not be found. Check the address for typos, and that this computer is online."
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return "The relay's certificate is not valid for its address, so the connection could be intercepted and was not made. Check the address; if the relay runs without TLS, its address starts with ws://."
	case errors.As(err, &record), strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return "The relay does not speak TLS at that address. If it runs without TLS, write its address as ws://host:port/ws."
	case strings.Contains(err.Error(), "status code 101"):
		return "Something answered at the relay's address, but it is not a Sotto relay. Check the address and its path (usually /ws)."
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "The relay could not be reached. Check that this computer is online and the relay address is right, then try again."
	case errors.As(err, &path):
		return "Could not read or write " + path.Path + ". Check that the folder exists and you may write to it."
	}
	return "Something went wrong. Try again; if it keeps happening, the details can help find the cause."
}

// linkMessage says what is wrong with an invite link, from the part its
// parser names.
func linkMessage(err error) string {
	part := strings.TrimPrefix(err.Error(), meeting.ErrLink.Error()+": ")
	const prefix = "This is not a valid invite link: "
	switch {
	case strings.HasPrefix(part, "scheme"):
		return prefix + "invite links start with sotto:// or sotto+insecure://. Copy it again from the host."
	case strings.Contains(part, "fragment"):
		return prefix + "it is cut off (the code after # is missing or incomplete). Copy the whole link again from the host."
	}
	return prefix + "it is damaged. Copy the whole link again from the host."
}
