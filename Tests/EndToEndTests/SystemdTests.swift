import CTestSupport
import Foundation
import Glibc
import PracticeClient
import PracticeProto
import PracticeTestSupport
import Testing

@Suite("systemd", .serialized)
struct SystemdTests {
  /// Reads notifications until one contains `needle` (or the time runs out).
  func waitFor(_ fd: Int32, _ needle: String, within ms: Int32 = 10_000, seen: inout [String]) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(ms))
    var buf = [CChar](repeating: 0, count: 4096)
    while ContinuousClock.now < deadline {
      let n = pt_dgram_recv(fd, &buf, buf.count, 0)
      if n > 0 {
        let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        seen.append(text)
        if text.contains(needle) { return true }
      } else {
        try? await Task.sleep(for: .milliseconds(20))
      }
    }
    return false
  }

  @Test("socket activation: READY=1, a call through the inherited socket, WATCHDOG=1, STOPPING=1 on SIGTERM")
  func socketActivation() async throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate") else {
      Issue.record("systemd-socket-activate is missing (scripts/setup installs systemd)")
      return
    }
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("practiced-sd-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let notifyPath = dir.appendingPathComponent("notify").path
    let socketPath = dir.appendingPathComponent("activated.sock").path
    let notify = pt_dgram_listen(notifyPath)
    #expect(notify >= 0)
    defer { close(notify) }

    let logPath = dir.appendingPathComponent("log").path
    let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let p = try Child("/usr/bin/systemd-socket-activate", [
      "-l", socketPath, "-E", "NOTIFY_SOCKET=\(notifyPath)", "-E", "WATCHDOG_USEC=400000",
      TestDaemon.binary, "--state-dir", dir.appendingPathComponent("state").path, "--socket", "/nonexistent/ignored.sock",
      "--operator-uids", "0", "--test-hooks", "--health-probe-interval-ms", "100",
    ], stdout: logFD, stderr: logFD)
    close(logFD)
    var seen: [String] = []
    // systemd-socket-activate starts the daemon, with the listening socket as fd 3, on the first
    // connection; that connection waits in the backlog until the daemon accepts it.
    var c: PracticeConnection?
    for _ in 0..<100 where c == nil {
      c = try? await PracticeConnection.connect(path: socketPath)
      if c == nil { try await Task.sleep(for: .milliseconds(50)) }
    }
    let client = try #require(c)
    #expect(try await client.health.check().status == .serving)
    #expect(await waitFor(notify, "READY=1", seen: &seen), "notifications: \(seen)")
    #expect(seen.contains { $0.contains("STATUS=") })
    // While it opened the database, it asked systemd for more start time.
    let extended = seen.firstIndex { $0.contains("EXTEND_TIMEOUT_USEC=30000000") }
    #expect(extended != nil && extended! < seen.firstIndex { $0.contains("READY=1") }!, "notifications: \(seen)")
    _ = try await client.accounts.createAccount(Make.account())
    // Health's transitions show in systemd's status line.
    var ro = Practice_Test_V1_SetStoreReadOnlyRequest()
    ro.readOnly = true
    _ = try await client.testControl.setStoreReadOnly(ro)
    #expect(await waitFor(notify, "STATUS=NOT_SERVING", seen: &seen), "notifications: \(seen)")
    ro.readOnly = false
    _ = try await client.testControl.setStoreReadOnly(ro)
    #expect(await waitFor(notify, "STATUS=serving on \(socketPath)", seen: &seen), "notifications: \(seen)")
    await client.close()
    #expect(await waitFor(notify, "WATCHDOG=1", seen: &seen), "notifications: \(seen)")
    p.signal(SIGTERM)
    #expect(await waitFor(notify, "STOPPING=1", seen: &seen), "notifications: \(seen)")
    #expect(await p.wait() == 0)
    let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    #expect(text.contains("using the socket passed by systemd"))
    // It names the socket it was given, not the configured path it ignores.
    #expect(text.split(separator: "\n").contains { $0.contains("listening") && $0.contains("socket=\(socketPath)") }, "\(text)")
    #expect(!text.contains("socket=/nonexistent/ignored.sock"), "\(text)")
    // The daemon never touched the path it was told: the socket came from systemd.
    #expect(!FileManager.default.fileExists(atPath: "/nonexistent/ignored.sock"))
  }
}
