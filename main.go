// Command sotto is the Sotto desktop app: end-to-end encrypted video
// meetings without accounts.
//
//	sotto              start the app (first run creates your identity)
//	sotto --demo       host a meeting on this computer with two synthetic
//	                   participants already admitted
//
// This file is the composition root: it reads the flags, builds the real
// meeting services (internal/call: relay connection or embedded relay,
// capture devices, media engine, meeting protocol) and hands them to the
// app package, which draws them.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	fyneapp "fyne.io/fyne/v2/app"

	"github.com/sottohq/sotto/app"
	"github.com/sottohq/sotto/crypto/identity"
	"github.com/sottohq/sotto/internal/call"
)

// appID is the desktop application ID (also in FyneApp.toml).
const appID = "org.sotto.desktop"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sotto:", err)
		os.Exit(1)
	}
}

func run() error {
	demoMode := flag.Bool("demo", false, "host a demo meeting on this computer with two synthetic participants")
	relayAddr := flag.String("relay", "", "default relay address: host:port (TLS) or ws://host:port")
	port := flag.Int("port", call.DefaultRelayPort, "signaling port of the relay when hosting on this computer")
	advertise := flag.String("advertise", "", "host name or IP to put in invite links when hosting on this computer (default: this computer's LAN address)")
	mediaPorts := flag.String("media-ports", "", "UDP port range for media when hosting on this computer, e.g. 50000-50100 (default: any)")
	publicIP := flag.String("public-ip", "", "public IP to announce for media when this computer is behind a 1:1 NAT or port forwarding")
	demoBots := flag.Int("demo-participants", 2, fmt.Sprintf("number of synthetic participants in the demo (1-%d)", call.MaxDemoParticipants))
	verbose := flag.Bool("v", false, "log connection events to standard error (never keys or content)")
	flag.Parse()

	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	dir, err := identity.DefaultDir()
	if err != nil {
		return err
	}
	dialer := &call.Dialer{Logger: log, RelayPort: *port, Advertise: *advertise}
	if *mediaPorts != "" {
		if dialer.UDPPortMin, dialer.UDPPortMax, err = parsePortRange(*mediaPorts); err != nil {
			return err
		}
	}
	if *publicIP != "" {
		if net.ParseIP(*publicIP) == nil {
			return fmt.Errorf("--public-ip %q is not an IP address", *publicIP)
		}
		dialer.PublicIPs = []string{*publicIP}
	}
	if *demoMode {
		// The demo keeps nothing: a throw-away identity and contacts.
		if dir, err = os.MkdirTemp("", "sotto-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if dialer.Demo, err = call.NewDemo(log, *demoBots); err != nil {
			return err
		}
		dialer.LoopbackOnly, dialer.Synthetic = true, true
	}
	defer dialer.Close()

	fa := fyneapp.NewWithID(appID)
	a, err := app.New(fa, app.Config{
		Dir: dir, DefaultRelay: *relayAddr, Connector: dialer,
		Devices: call.LocalDevices{Synthetic: *demoMode},
	})
	if err != nil {
		return err
	}
	if *demoMode {
		id, err := identity.Generate()
		if err != nil {
			return err
		}
		a.UseIdentity(id, "Demo host")
		a.HostNow(true, app.MediaChoice{
			Camera: "VideoTest", Microphone: "AudioTest",
			CameraOn: true, MicOn: true, Quality: app.QualityMedium,
		})
	}
	startReports(a)
	a.Window().ShowAndRun()
	return nil
}

// parsePortRange reads "low-high".
func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || l == 0 || l > h {
		return 0, 0, fmt.Errorf("--media-ports %q: want low-high, e.g. 50000-50100", s)
	}
	return uint16(l), uint16(h), nil
}
