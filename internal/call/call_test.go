package call

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"

	"github.com/sottohq/sotto/crypto/identity"
)

// expect reads events until one satisfies ok.
func expect[T Event](t *testing.T, m Meeting, what string, ok func(T) bool) T {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, open := <-m.Events():
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if e, is := ev.(T); is && ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

// testDialer is the meeting services with synthetic media on loopback,
// the contacts of a fresh store and the lobby's usual choice.
func testDialer(t *testing.T) (*Dialer, *identity.Contacts, MediaChoice) {
	t.Helper()
	contacts, err := identity.OpenContacts(t.TempDir() + "/contacts.json")
	if err != nil {
		t.Fatal(err)
	}
	c := &Dialer{LoopbackOnly: true, Synthetic: true}
	t.Cleanup(c.Close)
	return c, contacts, MediaChoice{CameraOn: true, MicOn: true, Quality: QualityLow}
}

// hostOnThisComputer hosts a meeting named "Host" on the embedded relay;
// it leaves when t ends.
func hostOnThisComputer(ctx context.Context, t *testing.T, c *Dialer, contacts *identity.Contacts, media MediaChoice) *Call {
	t.Helper()
	hm, err := c.Host(ctx, HostRequest{Self: newIdentity(t), Name: "Host", Contacts: contacts, OnThisComputer: true, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	host := hm.(*Call)
	t.Cleanup(host.Leave)
	return host
}

// TestHostAdmitRemove runs the app's connector for real: the embedded
// relay, the meeting protocol and the media engine on loopback. A joiner
// knocks with the host's invite link, the host admits it from the waiting
// room, each receives the other's decoded video, then the host removes the
// joiner, whose meeting ends.
func TestHostAdmitRemove(t *testing.T) {
	c, contacts, media := testDialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	host := hostOnThisComputer(ctx, t, c, contacts, media)
	inv, err := c.ParseInvite(host.InviteLink())
	if err != nil {
		t.Fatalf("the host's own link does not parse: %v", err)
	}
	guestID := newIdentity(t)
	jm, err := c.Join(ctx, JoinRequest{Self: guestID, Name: "Guest", Invite: inv, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	guest := jm.(*Call)
	t.Cleanup(guest.Leave)

	w := expect(t, host, "the guest in the waiting room", func(e WaitingChanged) bool { return len(e.Joiners) == 1 })
	if w.Joiners[0].Name != "Guest" || !w.Joiners[0].Public.Equal(guestID.Public()) || w.Joiners[0].ID != guest.self {
		t.Fatalf("waiting room shows %+v", w.Joiners[0])
	}
	if err := host.Admit(w.Joiners[0].ID); err != nil {
		t.Fatal(err)
	}
	expect(t, guest, "admission", func(Admitted) bool { return true })
	r := expect(t, guest, "a roster of two", func(e RosterChanged) bool { return len(e.Members) == 2 })
	for _, m := range r.Members {
		if m.Self != (m.ID == guest.self) || m.Host != (m.ID == host.self) {
			t.Fatalf("roster entry %+v", m)
		}
	}
	if hc, gc := host.SecurityCode(), guest.SecurityCode(); hc.Digits == "" || hc.Digits != gc.Digits {
		t.Fatalf("security codes differ: %q vs %q", hc.Digits, gc.Digits)
	}

	// Each decodes the other's encrypted video.
	for _, p := range []struct {
		s    *Call
		from string
	}{{host, guest.self}, {guest, host.self}} {
		deadline := time.After(30 * time.Second)
	frames:
		for {
			select {
			case f := <-p.s.Video():
				if f.Member == p.from && f.Image.Bounds().Dx() > 0 {
					break frames
				}
			case <-deadline:
				t.Fatalf("no decoded video from %s", p.from[:8])
			}
		}
	}

	if err := host.Remove(guest.self); err != nil {
		t.Fatal(err)
	}
	if e := expect(t, guest, "the end of the meeting for the removed guest", func(Ended) bool { return true }); e.Reason != EndedRemoved {
		t.Fatalf("the removed guest is told %q", e.Reason)
	}
	if err := guest.SendChat("still here?"); err == nil {
		t.Fatal("a removed member could still send chat")
	}
}

// The lobby's devices over the synthetic capture drivers: a preview that
// moves and a microphone level that is not silent.
func TestDevicesPreviewAndLevel(t *testing.T) {
	d := LocalDevices{Synthetic: true}
	cams, mics := d.Cameras(), d.Microphones()
	if len(cams) != 1 || len(mics) != 1 {
		t.Fatalf("synthetic devices: %v %v", cams, mics)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	frames, err := d.Preview(ctx, cams[0].ID, QualityLow)
	if err != nil {
		t.Fatal(err)
	}
	var first *image.YCbCr
	for moved := false; !moved; {
		select {
		case img := <-frames:
			y, ok := img.(*image.YCbCr)
			if !ok || y.Rect.Dx() != 320 || y.Rect.Dy() != 240 {
				t.Fatalf("preview frame %T %v, want 320×240 YCbCr", img, img.Bounds())
			}
			if first == nil {
				first = y
			} else {
				moved = !bytes.Equal(first.Y, y.Y)
			}
		case <-ctx.Done():
			t.Fatal("no moving preview")
		}
	}
	levels, err := d.Level(ctx, mics[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case v := <-levels:
			if v > 0.1 {
				return // the test tone is a quarter of full scale
			}
		case <-ctx.Done():
			t.Fatal("microphone level stayed silent")
		}
	}
}
