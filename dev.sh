#!/usr/bin/env bash
# dev.sh: the two quick-start commands of Sotto's README.
#
#   ./dev.sh demo   install system packages, build, start the demo meeting
#   ./dev.sh test   run the whole test suite (vet, race detector, GUI under Xvfb)
#   ./dev.sh deps   only install the system packages
#   ./dev.sh release  reproducible release binaries and SHA256SUMS in dist/
#   ./dev.sh package [linux|darwin|windows]  the desktop package in dist/
#
# Both install what a fresh Debian/Ubuntu machine with Go lacks; run as root
# or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")"

# Packages the cgo build needs (GL/X11/Wayland for Fyne, libvpx for VP8,
# speexdsp for echo cancellation and noise suppression, libopus for Opus)
# and the ones the tests need (Xvfb for a real window, ImageMagick for
# screenshots).
BUILD_PKGS="gcc libc6-dev pkg-config libgl-dev libx11-dev libxcursor-dev libxrandr-dev libspeexdsp-dev
libxinerama-dev libxi-dev libxxf86vm-dev libwayland-dev libxkbcommon-dev wayland-protocols libvpx-dev libopus-dev"
TEST_PKGS="xvfb xauth imagemagick"

install_packages() {
	local missing=()
	for p in $BUILD_PKGS $TEST_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "dev.sh: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "${1:-}" in
deps)
	install_packages
	;;
demo)
	install_packages
	mkdir -p bin
	echo "dev.sh: building bin/sotto (the first build compiles Fyne, pion and the codecs: a few minutes; later builds take seconds)" >&2
	go build -trimpath -o bin/sotto .
	echo "dev.sh: starting the demo meeting" >&2
	exec ./bin/sotto --demo
	;;
package)
	# fyne package bumps the build number in FyneApp.toml; the tracked
	# file is put back, so the tree stays clean. The package goes to dist/.
	os="${2:-linux}"
	mkdir -p dist
	cp FyneApp.toml dist/FyneApp.toml.orig
	trap 'mv dist/FyneApp.toml.orig FyneApp.toml' EXIT
	echo "dev.sh: packaging Sotto for $os (the first run builds the fyne tool and Sotto: a few minutes)" >&2
	go run fyne.io/tools/cmd/fyne@v1.7.4 package -os "$os" -release
	for f in Sotto.tar.xz Sotto.app Sotto.exe; do
		if [ -e "$f" ]; then rm -rf "dist/$f" && mv "$f" dist/ && echo "dev.sh: dist/$f" >&2; fi
	done
	;;
test)
	install_packages
	go vet ./...
	# The GUI tests open a real window: give them an X server.
	xvfb-run -a -s "-screen 0 1280x800x24" go test -race -timeout 40m ./...
	;;
release)
	install_packages
	rm -rf dist && mkdir -p dist
	# Reproducible: no paths, no VCS stamp, no build ID; the toolchain is
	# the one go.mod pins.
	flags=(-trimpath -buildvcs=false -ldflags="-s -w -buildid=")
	go build "${flags[@]}" -o dist/sotto-linux-amd64 .
	go build "${flags[@]}" -o dist/sotto-relay-linux-amd64 ./cmd/sotto-relay
	go build "${flags[@]}" -o dist/sotto-bot-linux-amd64 ./cmd/sotto-bot
	(cd dist && sha256sum -- * > SHA256SUMS && cat SHA256SUMS)
	;;
*)
	echo "usage: ./dev.sh demo | test | deps | release | package [os]" >&2
	exit 2
	;;
esac
