import Foundation
import Glibc

/// Socket activation: the listening socket systemd passes (`LISTEN_FDS`, from fd 3).
public struct SystemdSocket: Sendable {
  public let fd: Int32
  /// Its name (`LISTEN_FDNAMES`; `FileDescriptorName=` of the socket unit, by default the unit's name).
  public let name: String?

  /// The names of ours, in the order they are preferred among several passed sockets.
  static let preferredNames: Set<String> = ["practiced", "practiced.socket"]

  /// Takes the socket systemd passed to this process, if any, and removes `LISTEN_PID`, `LISTEN_FDS`
  /// and `LISTEN_FDNAMES` from the environment (so that no child could believe they are its own).
  /// With several sockets, the one named `practiced` or `practiced.socket` is taken, else the first.
  public static func take() -> SystemdSocket? {
    let env = ProcessInfo.processInfo.environment
    defer {
      unsetenv("LISTEN_PID")
      unsetenv("LISTEN_FDS")
      unsetenv("LISTEN_FDNAMES")
    }
    guard let pidText = env["LISTEN_PID"], let pid = Int32(pidText), pid == getpid(),
      let fdsText = env["LISTEN_FDS"], let fds = Int(fdsText), fds >= 1
    else { return nil }
    let names = env["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
    let index = names.prefix(fds).firstIndex(where: preferredNames.contains) ?? 0
    return SystemdSocket(fd: 3 + Int32(index), name: index < names.count ? names[index] : nil)
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
    guard let address = UnixAddress(path) else { return false }
    let message = Array(state.utf8)
    return address.withSockaddr { sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), $0, $1) } == message.count
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
