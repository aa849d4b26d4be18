import ArgumentParser
import Foundation
import Glibc
import PracticeClient
import NIOPosix

/// A connected Unix stream socket, or -1.
func unixConnect(_ path: String) -> Int32 {
  let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return -1 }
  var addr = sockaddr_un()
  addr.sun_family = sa_family_t(AF_UNIX)
  withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: Array(path.utf8.prefix(raw.count - 1))) }
  let ok = withUnsafePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
  } == 0
  if !ok { close(fd) }
  return ok ? fd : -1
}

/// Starts `path` with stdin/stdout on /dev/null and stderr appended to `log`; extra environment
/// entries ("KEY=value") are added to this process's.
func spawnProcess(_ path: String, _ args: [String], log: String, environment extra: [String] = []) throws -> pid_t {
  var pid: pid_t = 0
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
  var argv = ([path] + args).map { strdup($0) } + [nil]
  defer { argv.forEach { free($0) } }
  var env = (ProcessInfo.processInfo.environment.filter { $0.key != "NOTIFY_SOCKET" }.map { "\($0.key)=\($0.value)" } + extra)
    .map { strdup($0) } + [nil]
  defer { env.forEach { free($0) } }
  let rc = posix_spawn(&pid, path, &actions, nil, &argv, &env)
  guard rc == 0 else { throw ValidationError("cannot start \(path): \(rc)") }
  return pid
}

/// RSS of the daemon with many idle connections open.
struct Idle: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Open idle connections and report the daemon's RSS.")
  @Option var socket: String
  @Option var pid: Int32
  @Option var connections = 1000

  func run() async throws {
    let before = rssKiB(pid: pid)
    var fds: [Int32] = []
    for _ in 0..<connections {
      let fd = unixConnect(socket)
      guard fd >= 0 else { throw ValidationError("connect failed after \(fds.count) connections: errno \(errno)") }
      fds.append(fd)
    }
    // Let the daemon accept and set up every connection, then check it still serves.
    try await Task.sleep(for: .seconds(2))
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let c = try await PracticeConnection.connect(path: socket, group: group)
    _ = try await c.health.check()
    await c.close()
    try await group.shutdownGracefully()
    let with = rssKiB(pid: pid)
    print("RESULT daemon_rss_before_idle_connections \(before) KiB")
    print("RESULT daemon_rss_\(connections)_idle_connections \(with) KiB")
    print(String(format: "RESULT daemon_rss_per_idle_connection %.1f KiB", Double(with - before) / Double(connections)))
    print(String(format: "RATIO daemon_rss_%d_idle_mib %.1f goal <= 128.0 %@", connections, Double(with) / 1024,
                 with <= 128 * 1024 ? "PASS" : "FAIL"))
    for fd in fds { close(fd) }
  }
}

/// Time from exec to READY=1 (sd_notify), on an existing state directory.
struct Ready: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Measure exec to READY=1 of practiced on a state directory.")
  @Option var practiced: String
  @Option var stateDir: String
  @Option var runs = 5

  func run() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("practiced-ready-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let notifyPath = dir.appendingPathComponent("notify").path
    let listener = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: Array(notifyPath.utf8.prefix(raw.count - 1))) }
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0 else { throw ValidationError("cannot bind \(notifyPath)") }
    defer { close(listener) }
    var tv = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

    var times: [Double] = []
    for run in 0..<runs {
      let socket = dir.appendingPathComponent("p\(run).sock").path
      let start = DispatchTime.now().uptimeNanoseconds
      let pid = try spawnProcess(practiced, ["--socket", socket, "--state-dir", stateDir, "--operator-uids", "0", "--log-level", "warning"],
                                 log: dir.appendingPathComponent("log").path, environment: ["NOTIFY_SOCKET=\(notifyPath)"])
      var buffer = [UInt8](repeating: 0, count: 4096)
      var ready = false
      while !ready {
        let n = recv(listener, &buffer, buffer.count, 0)
        guard n > 0 else { throw ValidationError("no READY=1 within 30 s") }
        ready = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").contains("READY=1")
      }
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
      kill(pid, SIGTERM)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
    }
    times.sort()
    print(String(format: "RESULT exec_to_ready_median %.1f ms", times[times.count / 2]))
    print(String(format: "RESULT exec_to_ready_min %.1f ms", times[0]))
    print(String(format: "RATIO exec_to_ready_ms %.1f goal <= 200.0 %@", times[times.count / 2], times[times.count / 2] <= 200 ? "PASS" : "FAIL"))
  }
}
