import Foundation
import Glibc
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Testing

/// A size-limited tmpfs mounted for one test: a real filesystem that fills up.
/// Mounting needs CAP_SYS_ADMIN; scripts/test runs as root (as CI does).
final class SmallFilesystem {
  let path: String

  init(sizeKiB: Int) throws {
    path = NSTemporaryDirectory() + "practiced-fs-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    guard mount("tmpfs", path, "tmpfs", 0, "size=\(sizeKiB)k,mode=0700") == 0 else {
      let e = errno
      rmdir(path)
      throw TestFailure("cannot mount a tmpfs at \(path) (errno \(e)): the disk-full test needs CAP_SYS_ADMIN")
    }
  }

  /// Writes a file until the filesystem is full; returns the bytes written.
  @discardableResult
  func fill(_ name: String = "filler") -> Int {
    let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    defer { close(fd) }
    let chunk = [UInt8](repeating: 0x5A, count: 4096)
    var total = 0
    while true {
      let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      total += n
    }
    return total
  }

  func free(_ name: String = "filler") { unlink(path + "/" + name) }

  func unmount() {
    umount2(path, Int32(MNT_DETACH))
    rmdir(path)
  }
}

/// Waits (polling) until Health/Check says `status`; false after `seconds`.
func waitForHealth(_ c: PracticeConnection, _ status: Practice_Rpc_V1_HealthCheckResponse.ServingStatus, seconds: Int = 15) async throws -> Bool {
  let deadline = ContinuousClock.now + .seconds(seconds)
  while ContinuousClock.now < deadline {
    if try await c.health.check().status == status { return true }
    try await Task.sleep(for: .milliseconds(100))
  }
  return false
}

@Suite("Store faults: disk full, read-only database", .serialized)
struct FaultTests {
  @Test(
    "the disk fills up: mutations RESOURCE_EXHAUSTED STORE_FULL, reads work, Health NOT_SERVING; space returns and the daemon recovers by itself with every acknowledged write kept",
    .disabled(if: TestDaemon.onPostgres, "SQLite's file: a PostgreSQL server's disk is the server's (PostgresStoreTests covers its outage)"))
  func diskFull() async throws {
    let fs = try SmallFilesystem(sizeKiB: 16 * 1024)
    defer { fs.unmount() }
    try await withDaemon(stateDirectory: fs.path + "/state") { d in
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account.accountID
      var acked: [Int64] = []  // versions acknowledged before the disk filled
      for i in 0..<10 { acked.append(try await c.accounts.updateAccountSettings(settingsChange(a, zones[i % 4])).account.version) }
      #expect(try await c.health.check().status == .serving)

      fs.fill()
      // The WAL may still have room for a few frames; keep writing until the store says it is full.
      var refused: RPCError?
      for i in 0..<200 {
        do {
          acked.append(try await c.accounts.updateAccountSettings(settingsChange(a, zones[i % 4])).account.version)
        } catch let e as RPCError {
          refused = e
          break
        }
      }
      let e = try #require(refused, "no write failed on a full disk")
      #expect(e.code == .resourceExhausted && e.reason == .storeFull, "got \(e)")
      #expect(!e.message.isEmpty)

      // Reads keep working, and still show the last acknowledged write; Health says NOT_SERVING.
      let account = try await c.accounts.getAccount(Make.get(a)).account
      #expect(account.version == acked.last!)
      #expect(try await c.health.check().status == .notServing)
      // Another mutation kind is refused the same way, and a create too.
      await expectRPCError(.resourceExhausted, .storeFull) { _ = try await c.accounts.createAccount(Make.account("Second Practice")) }
      #expect(d.log.contains("STORE_FULL") || d.log.contains("disk is full"))

      // Space returns: the daemon notices by itself (its probe), without a restart.
      fs.free()
      #expect(try await waitForHealth(c, .serving), "Health did not return to SERVING after space was freed")
      let after = try await c.accounts.updateAccountSettings(settingsChange(a, "America/Denver")).account
      #expect(after.version == acked.last! + 1)
      _ = try await c.accounts.createAccount(Make.account("Second Practice"))
      await c.close()

      // Nothing acknowledged was lost, and the file is sound, across a restart.
      try await d.restart()
      let c2 = try await d.connect()
      #expect(try await c2.accounts.getAccount(Make.get(a)).account.version == after.version)
      // One audit event per acknowledged settings change, none for the refused ones.
      var q = auditQuery(a)
      q.method = "/practice.v1.AccountService/UpdateAccountSettings"
      #expect(try await c2.audit.listAuditEvents(q).events.count == acked.count + 1)
      await c2.close()
    }
  }

  @Test("the database turns read-only: mutations UNAVAILABLE STORE_UNAVAILABLE, reads work, Health NOT_SERVING; writable again and the daemon recovers by itself")
  func readOnly() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account.accountID
      let v = try await c.accounts.updateAccountSettings(settingsChange(a, "America/Chicago")).account.version

      var ro = Practice_Test_V1_SetStoreReadOnlyRequest()
      ro.readOnly = true
      _ = try await c.testControl.setStoreReadOnly(ro)
      await expectRPCError(.unavailable, .storeUnavailable) { _ = try await c.accounts.updateAccountSettings(settingsChange(a, "America/Denver")) }
      await expectRPCError(.unavailable, .storeUnavailable) { _ = try await c.accounts.createAccount(Make.account("Other")) }
      #expect(try await c.accounts.getAccount(Make.get(a)).account.version == v)
      #expect(try await c.health.check().status == .notServing)
      // Still refused while read-only: the probe does not flip Health back on its own.
      try await Task.sleep(for: .seconds(3))
      #expect(try await c.health.check().status == .notServing)

      ro.readOnly = false
      _ = try await c.testControl.setStoreReadOnly(ro)
      #expect(try await waitForHealth(c, .serving))
      #expect(try await c.accounts.updateAccountSettings(settingsChange(a, "America/Denver")).account.version == v + 1)
      await c.close()
    }
  }
}

