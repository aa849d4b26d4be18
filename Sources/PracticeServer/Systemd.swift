import Foundation
import Glibc

/// Socket activation: the listening socket systemd passes as fd 3.
enum SystemdSocket {
  static func listenFD() -> Int32? {
    let env = ProcessInfo.processInfo.environment
    guard let pidText = env["LISTEN_PID"], let pid = Int32(pidText), pid == getpid(),
      let fdsText = env["LISTEN_FDS"], let fds = Int(fdsText), fds >= 1
    else { return nil }
    return 3
  }
}

/// `sd_notify`: a datagram to `$NOTIFY_SOCKET` (a path, or `@` for the abstract namespace).
public enum SystemdNotifier {
  public static var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

  /// Sends `state` ("READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1"). Returns whether it was sent.
  @discardableResult
  public static func notify(_ state: String) -> Bool {
    guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    let abstract = bytes.first == UInt8(ascii: "@")
    if abstract { bytes[0] = 0 }
    let capacity = MemoryLayout.size(ofValue: addr.sun_path)
    guard bytes.count < capacity else { return false }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      raw.copyBytes(from: bytes)
    }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    let message = Array(state.utf8)
    let sent = withUnsafePointer(to: &addr) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
        sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), sa, length)
      }
    }
    return sent == message.count
  }

  /// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this process), if any.
  public static var watchdogInterval: Duration? {
    let env = ProcessInfo.processInfo.environment
    guard let usecText = env["WATCHDOG_USEC"], let usec = Int64(usecText), usec > 0 else { return nil }
    if let pidText = env["WATCHDOG_PID"], let pid = Int32(pidText), pid != getpid() { return nil }
    return .microseconds(usec)
  }
}

/// Keeps systemd's start timeout from running out while start-up works: opening a large database
/// (its integrity check, a migration that rewrites a table) can take longer than `TimeoutStartSec`
/// (90 s by default), and a daemon killed there would be restarted into the same work, forever.
/// Until `stop()`, it sends `EXTEND_TIMEOUT_USEC` at once and then every `period`, each asking for
/// `extension` more (systemd never shortens the configured timeout with it). A start-up that hangs
/// stops sending, and systemd's timeout applies again.
public final class StartTimeoutExtender: Sendable {
  private let stopped = DispatchSemaphore(value: 0)

  public init(period: Duration = .seconds(10), extension: Duration = .seconds(30),
              send: @escaping @Sendable (String) -> Void = { SystemdNotifier.notify($0) }) {
    let message = "EXTEND_TIMEOUT_USEC=\(Int(`extension` / .microseconds(1)))"
    let nanoseconds = Int(period / .nanoseconds(1))
    let stopped = self.stopped
    let thread = Thread {
      repeat {
        send(message)
      } while stopped.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut
    }
    thread.name = "practiced.start"
    thread.start()
  }

  /// Start-up is over (READY=1 is next, or it failed): no more extensions.
  public func stop() { stopped.signal() }
}
