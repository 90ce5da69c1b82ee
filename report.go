//go:build uireport

package main

import (
	"encoding/json"
	"os"
	"time"

	"fyne.io/fyne/v2"

	"github.com/sottohq/sotto/app"
)

// The state report exists only in binaries built with -tags uireport: the
// real-window test (main_test.go) builds such a binary and reads the report
// to find the video tiles on its screenshots. Release builds carry neither
// the report nor the environment variable that turns it on.

// reportEnv names a file the app rewrites with its on-screen state every
// reportEvery.
const (
	reportEnv   = "SOTTO_UI_REPORT"
	reportEvery = 250 * time.Millisecond
)

// startReports starts the report writer when reportEnv names a file.
func startReports(a *app.App) {
	if path := os.Getenv(reportEnv); path != "" {
		go writeReports(a, path)
	}
}

// uiReport is app.Report plus how long the UI thread took to pick up the
// request (its responsiveness while video plays).
type uiReport struct {
	app.Report
	UIDelayMillis float64 `json:"ui_delay_ms"`
}

// writeReports rewrites path with the app's on-screen state.
func writeReports(a *app.App, path string) {
	for range time.Tick(reportEvery) {
		var r uiReport
		asked := time.Now()
		fyne.DoAndWait(func() {
			r.UIDelayMillis = float64(time.Since(asked).Microseconds()) / 1000
			r.Report = a.Report()
		})
		b, err := json.Marshal(r)
		if err != nil {
			continue
		}
		tmp := path + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil {
			os.Rename(tmp, path)
		}
	}
}
