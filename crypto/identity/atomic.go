package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// rename is os.Rename, replaceable by tests to simulate a crash or failure
// between writing the temporary file and putting it in place.
var rename = os.Rename

// writeFileAtomic replaces path with data so that a reader sees either the
// old file or the new one, never a mix, even across a power cut:
//
//  1. create a temporary file in the same directory (same file system), mode 0600;
//  2. write and fsync it;
//  3. rename it over path (atomic on POSIX);
//  4. fsync the directory so the rename itself is durable.
//
// On any failure the temporary file is removed and path is untouched.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it explicit and immune to
	// an unusual umask.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("set file mode: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := rename(tmp, path); err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	return syncDir(dir)
}

// ensureDir creates dir with mode 0700 if it does not exist. An existing
// directory's mode is left alone: it may be shared with other programs.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot open a directory for syncing; the rename is as
		// durable as the file system makes it.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
