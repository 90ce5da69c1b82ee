package call

import "errors"

// errNoProtocol is returned by the host and chat controls of a call that
// runs on a shared test key.
var errNoProtocol = errors.New("this meeting runs without the meeting protocol (test key)")

// Events implements Meeting.
func (c *Call) Events() <-chan Event { return c.events }

// Video implements Meeting.
func (c *Call) Video() <-chan VideoFrame { return c.video }

// InviteLink implements Meeting.
func (c *Call) InviteLink() string { return c.link }

// SessionID implements Meeting: this member's relay session ID (its
// member ID).
func (c *Call) SessionID() string { return c.self }

// SecurityCode implements Meeting.
func (c *Call) SecurityCode() SecurityCode {
	c.codeMu.Lock()
	defer c.codeMu.Unlock()
	return c.code
}

// protocol runs one protocol command and wakes the loop for its output.
func (c *Call) protocol(f func() error) error {
	if c.ns == nil {
		return errNoProtocol
	}
	defer c.nudge()
	return f()
}

// Admit implements Meeting.
func (c *Call) Admit(id string) error { return c.protocol(func() error { return c.ns.Admit(id) }) }

// Deny implements Meeting.
func (c *Call) Deny(id string) error { return c.protocol(func() error { return c.ns.Deny(id) }) }

// Remove implements Meeting.
func (c *Call) Remove(id string) error { return c.protocol(func() error { return c.ns.Remove(id) }) }

// HandOver implements Meeting.
func (c *Call) HandOver(id string) error {
	return c.protocol(func() error { return c.ns.HandOver(id) })
}

// SendChat implements Meeting.
func (c *Call) SendChat(text string) error {
	return c.protocol(func() error { return c.ns.SendChat(text) })
}

// SetMicrophone implements Meeting.
func (c *Call) SetMicrophone(on bool) error {
	c.part.SetAudioEnabled(on)
	c.micOn.Store(on)
	return nil
}

// SetCamera implements Meeting.
func (c *Call) SetCamera(on bool) error { return c.setCamera(on) }

// SetScreenShare implements Meeting.
func (c *Call) SetScreenShare(on bool) error { return c.setScreenShare(on) }

// Leave implements Meeting: it tells the others, stops media and returns
// once the call has ended.
func (c *Call) Leave() {
	c.quitOnce.Do(func() { close(c.quit) })
	<-c.done
}

// Done is closed once the call has ended (Events is then closed too).
func (c *Call) Done() <-chan struct{} { return c.done }
