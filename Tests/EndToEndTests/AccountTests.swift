import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Testing

@Suite("Accounts and users", .serialized)
struct AccountTests {
  @Test("peer classes: operator, service with actor and roles, denied")
  func peerClasses() async throws {
    try await withDaemon { d in
      let op = try await d.connect(as: .operator)
      let created = try await op.accounts.createAccount(Make.account())
      let acct = created.account.accountID
      let prac = try await op.accounts.addUser(Make.user(acct, "Pat", roles: [.practitioner])).user

      let svc = try await d.connect(as: .service)
      await expectRPCError(.permissionDenied, .unknownActor) { _ = try await svc.accounts.getAccount(Make.get(acct)) }
      await expectRPCError(.permissionDenied, .unknownActor) {
        _ = try await svc.accounts.getAccount(Make.get(acct), options: .init(actor: "user_nobody"))
      }
      #expect(try await svc.accounts.getAccount(Make.get(acct), options: .init(actor: prac.userID)).account.accountID == acct)
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.accounts.addUser(Make.user(acct, "X", roles: [.biller]), options: .init(actor: prac.userID))
      }
      #expect(try await svc.accounts.addUser(Make.user(acct, "Bea", roles: [.biller]),
                                             options: .init(actor: created.owner.userID)).user.name == "Bea")
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.accounts.createAccount(Make.account(), options: .init(actor: created.owner.userID))
      }
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.accounts.listAccounts(options: .init(actor: created.owner.userID))
      }
      // An actor of another account is unknown here.
      let other = try await op.accounts.createAccount(Make.account("Other Practice", email: ""))
      await expectRPCError(.permissionDenied, .unknownActor) {
        _ = try await svc.accounts.getAccount(Make.get(acct), options: .init(actor: other.owner.userID))
      }
      // A deactivated actor is refused.
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = acct
      deactivate.userID = prac.userID
      _ = try await op.accounts.deactivateUser(deactivate)
      await expectRPCError(.permissionDenied, .unknownActor) {
        _ = try await svc.accounts.getAccount(Make.get(acct), options: .init(actor: prac.userID))
      }

      let denied = try await d.connect(as: .denied)
      await expectRPCError(.permissionDenied, .peerNotAllowed) { _ = try await denied.accounts.getAccount(Make.get(acct)) }
      await expectRPCError(.permissionDenied, .peerNotAllowed) { _ = try await denied.reflection.describe() }
      #expect(d.log.contains("call denied"))
      #expect(d.log.contains("peer_uid=0"))
      for c in [op, svc, denied] { await c.close() }
    }
  }

  @Test("a restart keeps the data")
  func restart() async throws {
    try await withDaemon { d in
      var c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account
      let u = try await c.accounts.addUser(Make.user(a.accountID, "Sam", roles: [.practitioner])).user
      await c.close()
      try await d.restart()
      c = try await d.connect()
      #expect(try await c.accounts.getAccount(Make.get(a.accountID)).account.practiceName == a.practiceName)
      var list = Practice_V1_ListUsersRequest()
      list.accountID = a.accountID
      #expect(try await c.accounts.listUsers(list).users.contains { $0.userID == u.userID && $0.name == "Sam" })
      await c.close()
    }
  }

  @Test("a lifecycle notice goes out once, also across a daemon restart that runs the scheduler over the same days again")
  func noticeOnceAcrossRestart() async throws {
    try await withDaemon { d in
      var c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account()).account
      try await advance(c, days: 24)  // 6 days before the trial's end: the 7-day notice
      await c.close()
      // A restart sets the test clock back to the present; advancing again covers the same days.
      try await d.restart()
      c = try await d.connect()
      try await advance(c, days: 24)
      var watch = Practice_V1_WatchRequest()
      watch.accountID = a.accountID
      watch.afterSequence = a.changeSequence
      var notices: [Int32] = []
      for try await e in try c.watch.watch(watch) {
        if e.synced { break }
        if e.change.changeType == .notice { notices.append(e.change.notice.daysBefore) }
      }
      #expect(notices == [7])
      await c.close()
    }
  }

  @Test(
    "a corrupt practiced database makes the daemon refuse to start with a clear message, and leaves the file alone",
    .disabled(if: TestDaemon.onPostgres, "SQLite's file (PostgresStoreTests: a foreign or newer database)"))
  func corruptDatabase() async throws {
    let d = try await TestDaemon()
    let c = try await d.connect()
    for i in 0..<30 { _ = try await c.accounts.createAccount(Make.account("Practice \(i)")) }
    await c.close()
    #expect(await d.stop() == 0)
    // Garbage over every page but the first (the header and the schema stay readable).
    let path = d.stateDirectory + "/practiced.db"
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(bytes.count > 8192)
    for i in 4096..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
    try bytes.write(to: URL(fileURLWithPath: path))
    do {
      try await d.start()
      Issue.record("practiced started on a corrupt database")
    } catch let e as TestFailure {
      #expect(e.description.contains("cannot use database"), "\(e.description.suffix(2000))")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    await d.cleanUp()
  }

  @Test(
    "a foreign database file makes the daemon refuse to start, and leaves the file alone",
    .disabled(if: TestDaemon.onPostgres, "SQLite's file (PostgresStoreTests: a foreign or newer database)"))
  func foreignDatabase() async throws {
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("practiced-foreign-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let db = dir.appendingPathComponent("practiced.db")
    try Data("this is not a database, just some text that happens to be here".utf8).write(to: db)
    await #expect(throws: TestFailure.self) { _ = try await TestDaemon([], stateDirectory: dir.path) }
    #expect(try String(contentsOf: db, encoding: .utf8).hasPrefix("this is not a database"))
    try? FileManager.default.removeItem(at: dir)
  }
}
