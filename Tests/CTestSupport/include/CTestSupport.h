#ifndef PRACTICED_CTESTSUPPORT_H
#define PRACTICED_CTESTSUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/// Connects to the Unix socket at `path` with the calling thread's supplementary groups set to
/// `groups` (n of them) for the duration of connect(2), so the daemon's SO_PEERGROUPS sees them.
/// Only the calling thread's credentials change (raw syscalls, not glibc's process-wide wrappers),
/// and they are restored before returning. Needs CAP_SETGID (the test suite runs as root).
/// Returns the connected fd, or -errno.
int pt_connect_with_groups(const char *path, const gid_t *groups, size_t n);

/// Connects to `path` as a plain client: returns the fd or -errno.
int pt_connect(const char *path);

/// Writes all of `len` bytes; returns 0 or -errno.
int pt_write_all(int fd, const void *buf, size_t len);

/// Reads exactly `len` bytes within `timeout_ms`; returns bytes read (less at EOF), or -errno
/// (-ETIMEDOUT on timeout).
long pt_read_exact(int fd, void *buf, size_t len, int timeout_ms);

/// Whether the socket has data to read (or EOF) now: 1 or 0.
int pt_readable(int fd);

/// Waits up to `timeout_ms` for the peer to close: 1 when closed (EOF or reset), 0 when still open.
int pt_wait_closed(int fd, int timeout_ms);



/// A Unix datagram socket bound at `path` (a NOTIFY_SOCKET listener): the fd or -errno.
int pt_dgram_listen(const char *path);

/// Receives one datagram within `timeout_ms` into buf (NUL-terminated): its length, or -errno.
long pt_dgram_recv(int fd, char *buf, size_t len, int timeout_ms);

/// Starts `path` with `argv` and `envp` (NULL: this process's environment), its standard input,
/// output and error on the given fds (-1: /dev/null). Returns the pid or -errno. No Foundation.Process:
/// waiting never needs another thread, so tests can poll without starving Swift's thread pool.
int pt_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd);

/// Reaps `pid` if it has exited: 1 and *status (the exit code, or 128 + the signal), 0 while it runs,
/// or -errno.
int pt_try_wait(int pid, int *status);
#endif
