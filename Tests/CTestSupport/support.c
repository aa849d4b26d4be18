#define _GNU_SOURCE
#include "CTestSupport.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int connect_plain(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return -ENAMETOOLONG;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

int pt_connect(const char *path) { return connect_plain(path); }

int pt_connect_with_groups(const char *path, const gid_t *groups, size_t n) {
  gid_t saved[256];
  long count = syscall(SYS_getgroups, 256, saved);
  if (count < 0) return -errno;
  if (syscall(SYS_setgroups, n, groups) != 0) return -errno;
  int fd = connect_plain(path);
  if (syscall(SYS_setgroups, (size_t)count, saved) != 0 && fd >= 0) {
    close(fd);
    return -errno;
  }
  return fd;
}

int pt_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

long pt_read_exact(int fd, void *buf, size_t len, int timeout_ms) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r == 0) return -ETIMEDOUT;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    ssize_t n = recv(fd, p + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return (long)got;
      return -errno;
    }
    if (n == 0) return (long)got;
    got += (size_t)n;
  }
  return (long)got;
}

int pt_wait_closed(int fd, int timeout_ms) {
  char sink[4096];
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, timeout_ms);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    ssize_t n = recv(fd, sink, sizeof sink, 0);
    if (n <= 0) return 1;
  }
}

int pt_dgram_listen(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return -ENAMETOOLONG;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

long pt_dgram_recv(int fd, char *buf, size_t len, int timeout_ms) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int r = poll(&pfd, 1, timeout_ms);
  if (r == 0) return -ETIMEDOUT;
  if (r < 0) return -errno;
  ssize_t n = recv(fd, buf, len - 1, 0);
  if (n < 0) return -errno;
  buf[n] = 0;
  return (long)n;
}

int pt_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int fds[3] = {in_fd, out_fd, err_fd};
  for (int i = 0; i < 3; i++) {
    if (fds[i] >= 0) {
      posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    } else {
      posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, &attr, argv, envp ? envp : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? (int)pid : -rc;
}

int pt_try_wait(int pid, int *status) {
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == 0) return 0;
  if (r < 0) return -errno;
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return 1;
}

int pt_readable(int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  return poll(&pfd, 1, 0) > 0 ? 1 : 0;
}
