package app_test

import (
	"context"
	"errors"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
	"github.com/sottohq/sotto/internal/call"
)

// gatedMeeting's microphone switch fails once released.
type gatedMeeting struct {
	*apptest.Meeting
	release chan struct{}
}

func (m gatedMeeting) SetMicrophone(bool) error {
	<-m.release
	return errors.New("device gone")
}

type gatedConnector struct {
	*apptest.Connector
	m gatedMeeting
}

func (c gatedConnector) Host(ctx context.Context, req app.HostRequest) (app.Meeting, error) {
	return c.m, nil
}

// A meeting's banners belong to it: when it ends only its ending is told,
// a failure that comes back after the end is not shown, and the next
// lobby and meeting start with none.
func TestBannersBelongToOneMeeting(t *testing.T) {
	lockUI(t)
	m := gatedMeeting{apptest.NewMeeting(), make(chan struct{})}
	a, err := app.New(test.NewTempApp(t), app.Config{
		Dir: t.TempDir(), KDF: fastKDF, Connector: gatedConnector{apptest.NewConnector(m.Meeting), m}, Devices: apptest.Devices{},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Window().Show()
	createIdentity(t, a, "Ada", "")
	mv := hostMeeting(t, a, m.Meeting)
	m.Emit(app.RosterChanged{Members: []app.Member{selfMember(a), {ID: "bob", Name: "Bob", Public: newPeer(t)}}})
	m.Emit(app.RelayInjected{Session: "ghost"})
	m.Emit(app.Warning{Text: "No audio output device: you will hear nothing."})
	eventually(t, "the meeting's alerts", func() bool {
		return hasAlert(a, app.AlertDanger, "relay tried") && hasAlert(a, app.AlertWarning, "not verified") && hasAlert(a, app.AlertWarning, "No audio output")
	})
	tap(mv.Mute) // fails only after the meeting ended
	m.Emit(app.Ended{Reason: call.EndedRemoved})
	eventually(t, "home", func() bool { return a.HomeView() != nil })
	close(m.release)
	eventually(t, "only the ending told", func() bool {
		al := a.Alerts()
		return len(al) == 1 && al[0].Text == call.EndedRemoved
	})

	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	if al := a.Alerts(); len(al) != 0 {
		t.Fatalf("the lobby shows the last meeting's banners: %+v", al)
	}
}
