// Package vnettest builds pion virtual networks for tests that run the
// relay and its clients inside testing/synctest bubbles.
package vnettest

import (
	"testing"

	"github.com/pion/transport/v5/vnet"
)

// Host attaches a virtual host with address ip to router.
func Host(t testing.TB, router *vnet.Router, ip string) *vnet.Net {
	t.Helper()
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		t.Fatal(err)
	}
	if err := router.AddNet(n); err != nil {
		t.Fatal(err)
	}
	return n
}
