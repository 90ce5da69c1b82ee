//go:build deps

// Package deps pins the module graph while the packages that use these
// modules are being written. It is never built.
package deps

import (
	_ "fyne.io/fyne/v2/app"
	_ "github.com/coder/websocket"
	_ "github.com/gen2brain/malgo"
	_ "github.com/pion/interceptor"
	_ "github.com/pion/mediadevices"
	_ "github.com/pion/mediadevices/pkg/codec/opus"
	_ "github.com/pion/mediadevices/pkg/codec/vpx"
	_ "github.com/pion/mediadevices/pkg/driver/audiotest"
	_ "github.com/pion/mediadevices/pkg/driver/videotest"
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
	_ "github.com/pion/mediadevices/pkg/driver/screen"
	_ "github.com/pion/opus"
	_ "github.com/pion/rtcp"
	_ "github.com/pion/rtp"
	_ "github.com/pion/transport/v5/vnet"
	_ "github.com/pion/turn/v5"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/skip2/go-qrcode"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/crypto/curve25519"
)
