//go:build !uireport

package main

import "github.com/sottohq/sotto/app"

// startReports does nothing: the state report is built only with
// -tags uireport (see report.go).
func startReports(*app.App) {}
