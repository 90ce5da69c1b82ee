# build/windows/windows.sh: Sotto's Windows build, cross-compiled on Debian
# 12 with mingw-w64, and its smoke test under Wine. Sourced by dev.sh
# (./dev.sh windows, ./dev.sh windows-smoke); run from the repository root.
#
# The C libraries Sotto links (libvpx, libopus, speexdsp) have no Debian
# mingw packages. They are built here from Debian's own source packages,
# pinned below with their Debian security patches applied, as static
# libraries for x86_64-w64-mingw32, and kept in a cache directory keyed by
# the Debian version, so only the first run (or a version bump) pays for
# them.

WIN_PKGS="gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 mingw-w64-x86-64-dev nasm dpkg-dev curl ca-certificates"
WIN_SMOKE_PKGS="wine wine64 xvfb xauth imagemagick x11-utils"

WIN_TRIPLE=x86_64-w64-mingw32
WIN_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sotto"
WIN_POOL="http://deb.debian.org/debian/pool/main"

# Pinned Debian 12 source packages: name, version, pool directory and the
# SHA-256 of the .dsc (which carries the SHA-256 of the tarballs that
# dpkg-source checks). A new Debian security release means a new pin
# here, and with it a new cache directory.
WIN_VPX=(libvpx 1.12.0-1+deb12u5 libv/libvpx 97b094daf6095e91b43328473e03354fbd4eece0ef697398a8290bf1017657f7)
WIN_OPUS=(opus 1.3.1-3 o/opus c373ac82a1afb824819618c12e279ee47b6ac2fa18083b9ef2bb9e8e9e588419)
WIN_SPEEXDSP=(speexdsp 1.2.1-1 s/speexdsp f3c258d56638cd30a7c1d158355df407a906f3069d70e10e9a6ad9b2c8806b06)

# The DLLs a Windows 10 or 11 installation ships. The desktop app and the
# command-line tools may import nothing else: no MinGW runtime, no codec
# DLL to ship next to the .exe.
WIN_DLL_ALLOW="advapi32.dll bcrypt.dll bcryptprimitives.dll comdlg32.dll crypt32.dll dwmapi.dll gdi32.dll
imm32.dll iphlpapi.dll kernel32.dll msvcrt.dll ntdll.dll ole32.dll oleaut32.dll opengl32.dll powrprof.dll quartz.dll
setupapi.dll shell32.dll shlwapi.dll user32.dll userenv.dll uxtheme.dll winmm.dll ws2_32.dll"

win_log() { echo "windows: $*" >&2; }

# win_source NAME VERSION POOLDIR DSC_SHA256: unpacks the patched Debian
# source tree into $WIN_CACHE/src and prints its path.
win_source() {
	local name=$1 version=$2 pooldir=$3 sum=$4
	local upstream=${version%-*} dl="$WIN_CACHE/src/$name-$version"
	local tree="$dl/$name-$upstream"
	if [ ! -f "$tree/.sotto-unpacked" ]; then
		rm -rf "$dl" && mkdir -p "$dl"
		local dsc="${name}_${version}.dsc"
		curl -fsS -o "$dl/$dsc" "$WIN_POOL/$pooldir/$dsc" || {
			win_log "cannot fetch $dsc from the Debian archive (superseded? update the pin in build/windows/windows.sh)"
			return 1
		}
		echo "$sum  $dl/$dsc" | sha256sum -c --quiet - >&2 || { win_log "$dsc: checksum mismatch"; return 1; }
		local f
		for f in $(awk '/^Checksums-Sha256:/{on=1; next} /^[^ ]/{on=0} on{print $3}' "$dl/$dsc"); do
			curl -fsS -o "$dl/$f" "$WIN_POOL/$pooldir/$f" || { win_log "cannot fetch $f"; return 1; }
		done
		# The .dsc was checked against the pin; dpkg-source checks the
		# tarballs against the .dsc (its signature is not needed: the pin
		# is the trust anchor).
		(cd "$dl" && dpkg-source -x "$dsc" >/dev/null 2>&1) || { win_log "$name: unpacking failed"; return 1; }
		touch "$tree/.sotto-unpacked"
	fi
	echo "$tree"
}

# Flags for every C library: optimised, no paths of this machine in the
# objects (reproducible from any cache directory).
win_cflags() { echo "-O2 -ffile-prefix-map=$1=."; }

win_build_vpx() {
	local prefix="$WIN_CACHE/mingw-${WIN_VPX[0]}-${WIN_VPX[1]}"
	[ -f "$prefix/.sotto-built" ] && return 0
	local src
	src=$(win_source "${WIN_VPX[@]}")
	win_log "building ${WIN_VPX[0]} ${WIN_VPX[1]} for $WIN_TRIPLE"
	local b="$WIN_CACHE/build/${WIN_VPX[0]}"
	rm -rf "$b" "$prefix" && mkdir -p "$b"
	# VP8 only (Sotto has no VP9), the realtime paths with nasm's SIMD.
	(cd "$b" && CROSS=$WIN_TRIPLE- CFLAGS="$(win_cflags "$src")" CXXFLAGS="$(win_cflags "$src")" \
		"$src/configure" --target=x86_64-win64-gcc --prefix="$prefix" --as=nasm \
		--enable-static --disable-shared --disable-vp9 --enable-vp8 --enable-realtime-only \
		--enable-multi-res-encoding --enable-temporal-denoising --size-limit=16384x16384 \
		--disable-examples --disable-tools --disable-docs --disable-unit-tests --disable-install-bins \
		--disable-install-srcs &&
		# Win32 threads, as libvpx's own Windows builds use, rather than
		# MinGW's pthreads emulation (configure finds its pthread.h).
		sed -i 's/^#define HAVE_PTHREAD_H 1$/#define HAVE_PTHREAD_H 0/' vpx_config.h &&
		sed -i '/^HAVE_PTHREAD_H=yes$/d' libs-x86_64-win64-gcc.mk &&
		nice -n 10 make -j"$(nproc)" && make install) >"$b.log" 2>&1 ||
		{ tail -20 "$b.log" >&2; win_log "${WIN_VPX[0]} failed, log: $b.log"; return 1; }
	touch "$prefix/.sotto-built"
}

# win_build_autotools LIB-ARRAY-NAME CONFIGURE-FLAGS...
win_build_autotools() {
	local -n lib=$1
	shift
	local prefix="$WIN_CACHE/mingw-${lib[0]}-${lib[1]}"
	[ -f "$prefix/.sotto-built" ] && return 0
	local src
	src=$(win_source "${lib[@]}")
	win_log "building ${lib[0]} ${lib[1]} for $WIN_TRIPLE"
	local b="$WIN_CACHE/build/${lib[0]}"
	rm -rf "$b" "$prefix" && mkdir -p "$b"
	(cd "$b" && CFLAGS="$(win_cflags "$src")" "$src/configure" --host=$WIN_TRIPLE --prefix="$prefix" \
		--enable-static --disable-shared "$@" && nice -n 10 make -j"$(nproc)" && make install) >"$b.log" 2>&1 ||
		{ tail -20 "$b.log" >&2; win_log "${lib[0]} failed, log: $b.log"; return 1; }
	touch "$prefix/.sotto-built"
}

# win_libs builds (or finds in the cache) the three libraries and points
# cgo at them, and only at them: PKG_CONFIG_LIBDIR hides the host's .pc files.
win_libs() {
	mkdir -p "$WIN_CACHE"
	win_build_vpx
	win_build_autotools WIN_OPUS --disable-doc --disable-extra-programs
	win_build_autotools WIN_SPEEXDSP --disable-examples
	local l dirs=()
	for l in WIN_VPX WIN_OPUS WIN_SPEEXDSP; do
		local -n v=$l
		dirs+=("$WIN_CACHE/mingw-${v[0]}-${v[1]}/lib/pkgconfig")
	done
	export PKG_CONFIG_LIBDIR
	PKG_CONFIG_LIBDIR=$(IFS=:; echo "${dirs[*]}")
	unset PKG_CONFIG_PATH
	export CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$WIN_TRIPLE-gcc CXX=$WIN_TRIPLE-g++
}

# win_check_dlls EXE: fails if EXE imports a DLL outside WIN_DLL_ALLOW.
win_check_dlls() {
	local exe=$1 bad=() d
	local dlls
	dlls=$($WIN_TRIPLE-objdump -p "$exe" | awk '/DLL Name:/{print tolower($3)}' | sort -u)
	[ -n "$dlls" ] || { win_log "$exe: no imports found"; return 1; }
	for d in $dlls; do
		case " $(echo $WIN_DLL_ALLOW) " in
		*" $d "*) ;;
		*) bad+=("$d") ;;
		esac
	done
	if [ ${#bad[@]} -gt 0 ]; then
		win_log "$exe imports DLLs Windows does not ship: ${bad[*]}"
		return 1
	fi
	win_log "$(basename "$exe") imports only system DLLs: $(echo $dlls)"
}

# The release flags of ./dev.sh release, plus a static MinGW runtime
# (libgcc, libstdc++ for the DirectShow camera driver) so the .exe needs
# no DLL beside it. libopus keeps its hardening (_FORTIFY_SOURCE, stack
# protector), whose checks live in GCC's libssp: linked statically too,
# after every library (the external linker gets -extldflags last).
WIN_GOFLAGS=(-trimpath -buildvcs=false)
WIN_LDFLAGS="-s -w -buildid= '-extldflags=-static -lssp'"

# win_resources writes the desktop app's Windows resources (icon, version
# information, manifest) as rsrc_windows_amd64.syso in the main package,
# where go build links it; the version comes from FyneApp.toml.
win_resources() {
	local version build
	version=$(sed -n 's/^ *Version *= *"\(.*\)"/\1/p' FyneApp.toml)
	build=$(sed -n 's/^ *Build *= *\([0-9]*\)/\1/p' FyneApp.toml)
	go run github.com/tc-hib/go-winres@v0.3.3 simply --arch amd64 --out rsrc \
		--icon assets/icon.png --manifest gui --product-name Sotto \
		--file-description "Sotto: end-to-end encrypted video meetings" \
		--product-version "$version.$build" --file-version "$version.$build" \
		--original-filename sotto-windows-amd64.exe
}

# win_build builds the Windows binaries into dist/ (next to whatever
# ./dev.sh release put there) and checks their imports.
win_build() {
	win_libs
	mkdir -p dist
	(unset GOOS GOARCH CGO_ENABLED CC CXX; win_resources)
	nice -n 10 go build "${WIN_GOFLAGS[@]}" -ldflags="$WIN_LDFLAGS -H=windowsgui" -o dist/sotto-windows-amd64.exe .
	nice -n 10 go build "${WIN_GOFLAGS[@]}" -ldflags="$WIN_LDFLAGS" -o dist/sotto-relay-windows-amd64.exe ./cmd/sotto-relay
	nice -n 10 go build "${WIN_GOFLAGS[@]}" -ldflags="$WIN_LDFLAGS" -o dist/sotto-bot-windows-amd64.exe ./cmd/sotto-bot
	local exe
	for exe in dist/*-windows-amd64.exe; do
		win_check_dlls "$exe"
	done
}

# win_wine_overlay DIR: a go build -overlay file (printed) for Wine 8.0's
# second gap, test builds only. Since Go 1.24 every UDP socket asks for
# SIO_UDP_NETRESET, which Windows 10 and 11 have and Wine 8.0 answers with
# WSAEOPNOTSUPP (10045), so no UDP socket opens and ICE fails. The overlay
# copy of net/fd_windows.go lets that one answer pass; the option only
# stops network-unreachable errors from being reported on the socket.
win_wine_overlay() {
	local dir=$1 goroot
	goroot=$(go env GOROOT)
	mkdir -p "$dir/net"
	sed '/windows.SIO_UDP_NETRESET/{n;s/if err != nil {/if err != nil \&\& err != syscall.Errno(10045) {/}' \
		"$goroot/src/net/fd_windows.go" >"$dir/net/fd_windows.go"
	grep -q 'syscall.Errno(10045)' "$dir/net/fd_windows.go" ||
		{ win_log "net/fd_windows.go of $(go env GOVERSION) no longer matches the Wine overlay"; return 1; }
	printf '{"Replace":{"%s":"%s"}}\n' "$goroot/src/net/fd_windows.go" "$dir/net/fd_windows.go" >"$dir/overlay.json"
	echo "$dir/overlay.json"
}

# win_smoke OUTDIR: builds the Windows app with its state report
# (-tags uireport, as the Linux real-window test does) and the Wine 8.0
# shims (the ProcessPrng stand-in, the UDP overlay), then runs the demo
# under Wine (winesmoke). Screenshots and Wine's log land in OUTDIR. None
# of this reaches dist/. A dist/sotto-windows-amd64.exe from ./dev.sh
# windows is also started, to see that the shipped build opens its window.
win_smoke() {
	local out=$1 overlay release=""
	[ ! -f dist/sotto-windows-amd64.exe ] || release=$PWD/dist/sotto-windows-amd64.exe
	rm -rf "$out" && mkdir -p "$out"
	win_libs
	overlay=$(win_wine_overlay "$out/overlay")
	nice -n 10 go build "${WIN_GOFLAGS[@]}" -overlay "$overlay" -tags uireport -ldflags="$WIN_LDFLAGS" -o "$out/sotto-uireport.exe" .
	$WIN_TRIPLE-gcc -O2 -shared -o "$out/bcryptprimitives.dll" build/windows/processprng.c -lbcrypt
	(unset GOOS GOARCH CGO_ENABLED CC CXX PKG_CONFIG_LIBDIR
		go run ./build/windows/winesmoke -exe "$out/sotto-uireport.exe" -prng "$out/bcryptprimitives.dll" -out "$out" \
			${release:+-release "$release"})
}
