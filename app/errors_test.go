package app_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/app/apptest"
)

// A relay that is not running reads as a sentence with what to do; the
// error's own words are behind Details, hidden until asked for.
func TestConnectErrorIsASentenceWithDetails(t *testing.T) {
	lockUI(t)
	m := apptest.NewMeeting()
	conn := apptest.NewConnector(m)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	conn.Err = fmt.Errorf("participant: transport: signal: dial relay: failed to WebSocket dial: %w", refused)
	a, err := app.New(test.NewTempApp(t), app.Config{Dir: t.TempDir(), KDF: fastKDF, Connector: conn, Devices: apptest.Devices{}})
	if err != nil {
		t.Fatal(err)
	}
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()
	setText(h.Link, validLink(t))
	tap(h.Join)
	tap(a.LobbyView().Enter)
	eventually(t, "failure alert", func() bool { return hasAlert(a, app.AlertDanger, "Could not start the meeting. Nothing answered") })
	var al app.Alert
	for _, x := range a.Alerts() {
		if x.Key == "connect" {
			al = x
		}
	}
	if strings.Contains(al.Text, "WebSocket") || strings.Contains(al.Text, "refused") || al.Details != conn.Err.Error() {
		t.Fatalf("alert %+v", al)
	}
	bar := a.AlertBar()
	details := findLabelled(t, bar, conn.Err.Error(), func(l *widget.Label) string { return l.Text })
	if details.Visible() {
		t.Fatal("the details show before Details is tapped")
	}
	tap(findButton(t, bar, "Details"))
	if !details.Visible() {
		t.Fatal("Details did not show the error")
	}
	tap(findButton(t, bar, "Details"))
	if details.Visible() {
		t.Fatal("Details did not hide the error again")
	}
}

// A malformed link says what is wrong with it, not the parser's words.
func TestJoinLinkErrorIsASentence(t *testing.T) {
	lockUI(t)
	a := newApp(t, t.TempDir(), nil)
	createIdentity(t, a, "Ada", "")
	h := a.HomeView()
	setText(h.Link, strings.Split(validLink(t), "#")[0])
	tap(h.Join)
	if got := h.JoinError.Text; !strings.Contains(got, "cut off") || strings.Contains(got, "fragment") {
		t.Fatalf("join error %q", got)
	}
}
