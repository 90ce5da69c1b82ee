package relay

import (
	"context"
	"errors"
	"time"

	"github.com/sottohq/sotto/relay/signal"
)

const (
	// writeTimeout bounds one signaling write to a client.
	writeTimeout = 10 * time.Second
	// flushTimeout bounds writing the final queued messages when closing.
	flushTimeout = time.Second
)

// readLoop reads the client's messages until the session ends:
//  1. read one message within the idle timeout;
//  2. charge it to the message rate (binary frames too), check its size;
//  3. decode it strictly; a bad one costs an error reply, not the session;
//  4. dispatch it (handle).
func (s *session) readLoop(ctx context.Context) {
	// The reader is not cancelled when the session is closed: cancelling a
	// WebSocket read tears the connection down before the writer can send
	// the final message. The writer closes the connection instead, which
	// ends the read.
	for {
		rctx, rcancel := context.WithTimeout(ctx, s.r.lim.IdleTimeout)
		b, err := s.sig.Read(rctx)
		idle := rctx.Err() != nil && ctx.Err() == nil
		rcancel()
		if err != nil {
			switch {
			case errors.Is(err, signal.ErrBinaryFrame):
				// A binary frame is a message too: it counts against
				// the message rate before it costs an error reply.
				if !s.msgLimit.Allow() {
					s.rejectClose(signal.CodeRateLimited, "message flood")
					return
				}
				s.rejectReply(signal.CodeBadMessage, "binary frame")
				continue
			case errors.Is(err, signal.ErrTooBig):
				s.rejectClose(signal.CodeTooBig, "message too big")
			case idle:
				s.rejectClose(signal.CodeIdle, "idle timeout")
			default:
				s.closeWith(nil, "client closed")
			}
			return
		}
		if !s.msgLimit.Allow() {
			s.rejectClose(signal.CodeRateLimited, "message flood")
			return
		}
		if len(b) > s.r.lim.MaxMessageBytes {
			s.rejectClose(signal.CodeTooBig, "message too big")
			return
		}
		m, err := signal.Decode(b)
		if err != nil {
			code := signal.CodeBadMessage
			reason := "malformed message"
			var de *signal.DecodeError
			if errors.As(err, &de) {
				code, reason = de.Code, de.Reason
			}
			s.rejectReply(code, reason)
			continue
		}
		s.handle(m)
		select {
		case <-s.quit:
			return
		default:
		}
	}
}

// handle dispatches one decoded client message by type.
func (s *session) handle(m signal.Message) {
	switch v := m.(type) {
	case signal.Envelope:
		s.envelope(v)
	case signal.Answer:
		s.applyAnswer(v.SDP)
	case signal.Candidate:
		s.addCandidate(v)
	case signal.Publish:
		s.publish(v.Kind)
	case signal.Unpublish:
		s.unpublish(v.Mid)
	case signal.Ping:
		s.send(signal.Pong{})
	case signal.Join:
		s.rejectReply(signal.CodeAlreadyJoined, "already joined")
	default:
		s.rejectReply(signal.CodeUnexpected, "unexpected message type")
	}
}

// reject counts a bad input and closes the session with code.
func (s *session) rejectClose(code, reason string) {
	s.r.m.reject(code)
	s.closeWith(signal.Error{Code: code, Reason: reason}, code)
}

// rejectReply counts a bad input and answers with an error message.
func (s *session) rejectReply(code, reason string) {
	s.r.m.reject(code)
	s.send(signal.Error{Code: code, Reason: reason})
}

// send queues a message for the client.
func (s *session) send(m signal.Message) {
	b, err := signal.Encode(m)
	if err != nil {
		s.log.Error("cannot encode message", "type", m.MessageType(), "err", err)
		return
	}
	s.enqueue(b)
}

// enqueue queues an encoded message without blocking; a client whose queue
// is full is closed as a slow consumer.
func (s *session) enqueue(b []byte) bool {
	select {
	case <-s.quit:
		s.r.m.droppedMessages.Add(1)
		return false
	default:
	}
	select {
	case s.out <- b:
		return true
	default:
		s.r.m.droppedMessages.Add(1)
		s.r.m.reject(signal.CodeSlow)
		s.closeWith(nil, signal.CodeSlow)
		s.abort() // the write in progress is to a client that does not read
		return false
	}
}

func (s *session) writeLoop() {
	defer close(s.writerDone)
	for {
		select {
		case b := <-s.out:
			ctx, cancel := context.WithTimeout(s.abortCtx, writeTimeout)
			err := s.sig.Write(ctx, b)
			cancel()
			if err != nil {
				s.closeWith(nil, "connection lost")
				s.sig.Close(s.closeReason())
				return
			}
		case <-s.quit:
			s.mu.Lock()
			final, why := s.final, s.closeWhy
			s.mu.Unlock()
			// Flush what is queued, then the final message, all within one
			// flushTimeout: a client that does not read cannot hold the
			// session open.
			ctx, cancel := context.WithTimeout(s.abortCtx, flushTimeout)
			ok := true
			for ok {
				select {
				case b := <-s.out:
					ok = s.sig.Write(ctx, b) == nil
				default:
					if final != nil {
						_ = s.sig.Write(ctx, final)
					}
					ok = false
				}
			}
			cancel()
			s.sig.Close(why)
			return
		}
	}
}
