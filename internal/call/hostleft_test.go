package call

import (
	"context"
	"testing"
	"time"
)

// When the host leaves, the members are told who left (the meeting goes
// on without anyone who can admit), and so they are when another member
// leaves after the host; a joiner who knocks afterwards is not left
// waiting for ever: its wait ends with its own words.
func TestHostLeftIsToldAndLaterJoinerStopsWaiting(t *testing.T) {
	c, contacts, media := testDialer(t)
	c.AdmissionTimeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host := hostOnThisComputer(ctx, t, c, contacts, media)
	hostEvents := record(host)
	inv, err := c.ParseInvite(host.InviteLink())
	if err != nil {
		t.Fatal(err)
	}
	join := func(name string) (*Call, *recorder) { return joinAs(ctx, t, c, inv, media, name) }
	guest, guestEvents := join("Guest")
	waitEvent(t, hostEvents, "the guest in the waiting room", func(e WaitingChanged) bool { return len(e.Joiners) == 1 })
	if err := host.Admit(guest.self); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, guestEvents, "a roster of two", func(e RosterChanged) bool { return len(e.Members) == 2 })
	other, otherEvents := join("Other")
	waitEvent(t, hostEvents, "the other in the waiting room", func(e WaitingChanged) bool {
		return len(e.Joiners) == 1 && e.Joiners[0].ID == other.self
	})
	if err := host.Admit(other.self); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, otherEvents, "a roster of three", func(e RosterChanged) bool { return len(e.Members) == 3 })
	waitEvent(t, guestEvents, "a roster of three", func(e RosterChanged) bool { return len(e.Members) == 3 })

	host.Leave()
	left := waitEvent(t, guestEvents, "the host's leaving", func(HostLeft) bool { return true })
	if left.Member != host.self || left.Name != "Host" {
		t.Fatalf("told %+v, want the host's ID and name", left)
	}
	if _, ended := find(guestEvents, func(Ended) bool { return true }); ended {
		t.Fatal("the guest's meeting ended with the host's leaving")
	}
	if _, told := find(guestEvents, func(MemberLeft) bool { return true }); told {
		t.Fatal("the host's leaving was told as a member's")
	}
	other.Leave()
	gone := waitEvent(t, guestEvents, "the other's leaving", func(MemberLeft) bool { return true })
	if gone.Member != other.self || gone.Name != "Other" {
		t.Fatalf("told %+v, want the other's ID and name", gone)
	}

	start := time.Now()
	_, lateEvents := join("Late")
	e := waitEvent(t, lateEvents, "the late joiner's wait to end", func(Ended) bool { return true })
	if e.Reason != EndedNoAnswer {
		t.Fatalf("the late joiner is told %q", e.Reason)
	}
	if waited := time.Since(start); waited < c.AdmissionTimeout {
		t.Fatalf("gave up after %v, before the admission timeout", waited)
	}
	if _, admitted := find(lateEvents, func(Admitted) bool { return true }); admitted {
		t.Fatal("the late joiner was admitted with no host")
	}
}
