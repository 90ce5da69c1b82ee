/*
 * A stand-in bcryptprimitives.dll for the Wine smoke test only; it is never
 * shipped. Go 1.22 and later read randomness through ProcessPrng, which
 * every supported Windows has and Wine 8.0 (Debian 12) lacks, so a Go
 * program dies at start under that Wine. This DLL exports ProcessPrng and
 * fills the buffer from BCryptGenRandom, which Wine 8.0 implements.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
