import Foundation
import Glibc

/// A start-up failure the operator can act on: it names the file and the reason, and the daemon exits
/// non-zero having changed nothing.
public struct StartupError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The exclusive lock on a state directory (`practiced.lock`, an `flock` held for the daemon's life):
/// one daemon per state, so that no two daemons share a database, each with its own cache, change
/// feed and scheduler. The file holds the owner's pid, for the message a second daemon prints.
public final class StateLock: Sendable {
  public static let fileName = "practiced.lock"
  private let fd: Int32

  /// Takes the lock, or throws at once when another process holds it.
  public init(directory: String) throws {
    let path = (directory as NSString).appendingPathComponent(Self.fileName)
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw StartupError("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
    if flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let error = errno
      var buffer = [UInt8](repeating: 0, count: 32)
      let n = pread(fd, &buffer, buffer.count, 0)
      close(fd)
      let owner = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
      if error == EWOULDBLOCK {
        throw StartupError("another practiced (pid \(owner)) is using the state directory \(directory) (lock \(path))")
      }
      throw StartupError("cannot lock \(path): \(String(cString: strerror(error)))")
    }
    let pid = Array("\(getpid())\n".utf8)
    _ = ftruncate(fd, 0)
    _ = pwrite(fd, pid, pid.count, 0)
    self.fd = fd
  }

  deinit { close(fd) }
}

/// A Unix socket address: the path, or with a leading `@` a name in the abstract namespace. The one
/// place a `sockaddr_un` is filled in (systemd's notify socket, the journal, the socket-path probe).
struct UnixAddress {
  /// `sun_path` holds 108 bytes, the terminating NUL included.
  static let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

  private var storage = sockaddr_un()
  private let length: socklen_t

  /// nil when the path does not fit.
  init?(_ path: String) {
    var bytes = Array(path.utf8)
    let abstract = bytes.first == UInt8(ascii: "@")
    if abstract { bytes[0] = 0 }
    guard bytes.count < Self.capacity else { return nil }
    storage.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: bytes) }
    length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
  }

  /// Calls `body` with the address as `connect(2)` and `sendto(2)` take it.
  func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var address = storage
    return withUnsafePointer(to: &address) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
    }
  }
}

/// The socket path a daemon is about to bind, checked before anything else is touched.
enum SocketPath {
  static let capacity = UnixAddress.capacity

  /// Refuses a path that is too long, that names something other than a socket (a regular file is
  /// never deleted), or on which a live daemon answers; removes a stale socket (no one listening).
  static func prepare(_ path: String) throws {
    let length = path.utf8.count
    guard length < capacity else {
      throw StartupError("cannot bind \(path): the socket path is \(length) bytes, longer than the \(capacity - 1) a Unix socket allows")
    }
    var st = stat()
    if lstat(path, &st) != 0 {
      if errno == ENOENT { return }
      throw StartupError("cannot bind \(path): \(String(cString: strerror(errno)))")
    }
    guard (st.st_mode & S_IFMT) == S_IFSOCK else {
      throw StartupError("cannot bind \(path): it exists and is not a socket (left as it is)")
    }
    switch probe(path) {
    case 0:
      throw StartupError("cannot bind \(path): a daemon is already listening on it")
    case ECONNREFUSED:
      break  // stale: no one listens
    case let error:
      throw StartupError("cannot bind \(path): cannot tell whether a daemon listens on it (\(String(cString: strerror(error))))")
    }
    guard unlink(path) == 0 || errno == ENOENT else {
      throw StartupError("cannot replace the stale socket \(path): \(String(cString: strerror(errno)))")
    }
  }

  /// Connects to the socket at `path`: 0 when a process accepts connections there (one stopped with
  /// SIGSTOP too: the kernel accepts for it), ECONNREFUSED when no one listens, else the errno
  /// (EAGAIN: a listener whose backlog is full).
  static func probe(_ path: String) -> Int32 {
    // Non-blocking: a full backlog answers EAGAIN instead of waiting.
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    guard let address = UnixAddress(path) else { return ENAMETOOLONG }
    return address.withSockaddr { connect(fd, $0, $1) } == 0 ? 0 : errno
  }

  /// The path a bound Unix socket has (`getsockname`), for a socket systemd passed.
  static func boundPath(of fd: Int32) -> String? {
    var addr = sockaddr_un()
    var length = socklen_t(MemoryLayout<sockaddr_un>.size)
    let rc = withUnsafeMutablePointer(to: &addr) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard rc == 0, addr.sun_family == sa_family_t(AF_UNIX) else { return nil }
    let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
    guard pathLength > 0 else { return nil }
    return withUnsafeBytes(of: &addr.sun_path) { raw in
      let bytes = raw.prefix(pathLength)
      if bytes.first == 0 {
        // An abstract socket: shown with a leading '@', as systemd and ss do.
        return "@" + String(decoding: bytes.dropFirst().prefix { $0 != 0 }, as: UTF8.self)
      }
      return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
  }
}

/// The state directory: created, or brought to `mode` (0700 unless configured otherwise), whatever
/// the umask.
enum StateDirectory {
  static func prepare(_ path: String, mode: mode_t) throws {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw StartupError("cannot create the state directory \(path): \(error.localizedDescription)")
    }
    var st = stat()
    guard stat(path, &st) == 0 else { throw StartupError("cannot read \(path): \(String(cString: strerror(errno)))") }
    if st.st_uid == geteuid(), (st.st_mode & 0o7777) != mode, chmod(path, mode) != 0 {
      throw StartupError("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
    }
  }
}
