import Foundation
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Testing

@Suite("Accounts and users", .serialized)
struct AccountTests {
  @Test("create, get, list with paging, settings")
  func accounts() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let created = try await c.accounts.createAccount(Make.account(ownerRoles: [.practitioner]))
      let a = created.account
      #expect(a.accountID.hasPrefix("acct_") && a.state == .active && a.version == 1)
      #expect(a.settings.timeZone == "UTC" && a.settings.roomConflictPolicy == .warn)
      #expect(created.owner.roles == [.owner, .practitioner] && created.owner.active)
      #expect(a.ownerUserID == created.owner.userID)
      #expect(try await c.accounts.getAccount(Make.get(a.accountID)).account == a)

      for i in 0..<6 { _ = try await c.accounts.createAccount(Make.account("Practice \(i)", email: "")) }
      var list = Practice_V1_ListAccountsRequest()
      list.pageSize = 3
      var seen: [String] = []
      repeat {
        let page = try await c.accounts.listAccounts(list)
        #expect(page.accounts.count <= 3)
        seen += page.accounts.map(\.accountID)
        list.pageToken = page.nextPageToken
      } while !list.pageToken.isEmpty
      #expect(seen.count == 7 && Set(seen).count == 7 && seen == seen.sorted())

      var settings = Practice_V1_UpdateAccountSettingsRequest()
      settings.accountID = a.accountID
      settings.updateMask = ["time_zone", "room_conflict_policy"]
      settings.settings.timeZone = "America/New_York"
      settings.settings.roomConflictPolicy = .block
      settings.expectedVersion = 1
      let updated = try await c.accounts.updateAccountSettings(settings).account
      #expect(updated.version == 2 && updated.settings.timeZone == "America/New_York" && updated.settings.roomConflictPolicy == .block)

      // The same values again: OK, no version bump, no change event.
      settings.expectedVersion = 0
      let same = try await c.accounts.updateAccountSettings(settings).account
      #expect(same.version == 2 && same.changeSequence == updated.changeSequence)

      settings.expectedVersion = 1
      await expectRPCError(.aborted, .versionMismatch) { _ = try await c.accounts.updateAccountSettings(settings) }
      await c.close()
    }
  }

  @Test("bad inputs: field violations, all at once; NOT_FOUND; empty mask")
  func badInputs() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      var bad = Make.account("", owner: "", email: "not-an-email")
      bad.settings.timeZone = "Atlantis/Capital"
      bad.settings.roomConflictPolicy = .unspecified
      let e = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.createAccount(bad) }
      #expect(Set(e?.violations.map(\.field) ?? []) == ["practice_name", "owner_name", "owner_email", "settings.time_zone"])

      await expectRPCError(.notFound, .notFound) { _ = try await c.accounts.getAccount(Make.get("acct_missing")) }
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.getAccount(Make.get("")) }

      let a = try await c.accounts.createAccount(Make.account()).account
      var settings = Practice_V1_UpdateAccountSettingsRequest()
      settings.accountID = a.accountID
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.updateAccountSettings(settings) }
      settings.updateMask = ["owner_user_id"]
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.updateAccountSettings(settings) }
      settings.updateMask = ["time_zone"]
      settings.settings.timeZone = "Not/AZone"
      let tz = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.updateAccountSettings(settings) }
      #expect(tz?.violations.map(\.field) == ["settings.time_zone"])

      var page = Practice_V1_ListAccountsRequest()
      page.pageToken = "garbage"
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.listAccounts(page) }
      page.pageToken = ""
      page.pageSize = -5
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.listAccounts(page) }

      // SQL-significant and odd characters are stored verbatim.
      let odd = "O'Brien \"Care\"; DROP TABLE accounts; -- ✓ 👩‍⚕️ %_\\"
      let stored = try await c.accounts.createAccount(Make.account(odd, owner: odd, email: "")).account
      #expect(try await c.accounts.getAccount(Make.get(stored.accountID)).account.practiceName == odd)
      await c.close()
    }
  }

  @Test("users: add, duplicate email, update, owner rules, deactivate, list")
  func users() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let created = try await c.accounts.createAccount(Make.account())
      let acct = created.account.accountID
      let sam = try await c.accounts.addUser(Make.user(acct, "Sam Ortiz", email: "sam@harbor.example", roles: [.practitioner, .scheduler])).user
      #expect(sam.roles == [.practitioner, .scheduler] && sam.version == 1 && sam.active)

      let dup = await expectRPCError(.alreadyExists, .alreadyExists) {
        _ = try await c.accounts.addUser(Make.user(acct, "Other Sam", email: "SAM@harbor.example", roles: [.biller]))
      }
      #expect(dup?.violations.map(\.field) == ["email"])
      let bad = await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.accounts.addUser(Make.user(acct, "", email: "x@", roles: [.owner]))
      }
      #expect(Set(bad?.violations.map(\.field) ?? []) == ["name", "email", "roles"])
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.accounts.addUser(Make.user(acct, "No Roles", roles: []))
      }
      await expectRPCError(.notFound, .notFound) {
        _ = try await c.accounts.addUser(Make.user("acct_nope", "X", roles: [.biller]))
      }

      var update = Practice_V1_UpdateUserRequest()
      update.accountID = acct
      update.userID = sam.userID
      update.updateMask = ["name", "roles"]
      update.user.name = "Samuel Ortiz"
      update.user.roles = [.biller]
      update.expectedVersion = 1
      let samUpdated = try await c.accounts.updateUser(update).user
      #expect(samUpdated.name == "Samuel Ortiz" && samUpdated.roles == [.biller] && samUpdated.version == 2)
      await expectRPCError(.aborted, .versionMismatch) { _ = try await c.accounts.updateUser(update) }
      update.expectedVersion = 0
      #expect(try await c.accounts.updateUser(update).user.version == 2)  // no-op
      update.user.roles = [.owner]
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.accounts.updateUser(update) }

      // The owner keeps OWNER through a roles update and can't be deactivated.
      var ownerUpdate = Practice_V1_UpdateUserRequest()
      ownerUpdate.accountID = acct
      ownerUpdate.userID = created.owner.userID
      ownerUpdate.updateMask = ["roles"]
      ownerUpdate.user.roles = [.practitioner]
      #expect(try await c.accounts.updateUser(ownerUpdate).user.roles == [.owner, .practitioner])
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = acct
      deactivate.userID = created.owner.userID
      await expectRPCError(.failedPrecondition, .ownerRule) { _ = try await c.accounts.deactivateUser(deactivate) }

      deactivate.userID = sam.userID
      let gone = try await c.accounts.deactivateUser(deactivate).user
      #expect(!gone.active && gone.version == 3)
      #expect(try await c.accounts.deactivateUser(deactivate).user.version == 3)  // already inactive: no-op

      var list = Practice_V1_ListUsersRequest()
      list.accountID = acct
      #expect(try await c.accounts.listUsers(list).users.map(\.userID) == [created.owner.userID])
      list.includeInactive = true
      #expect(try await c.accounts.listUsers(list).users.count == 2)
      // The email of a deactivated user can be used again.
      _ = try await c.accounts.addUser(Make.user(acct, "New Sam", email: "sam@harbor.example", roles: [.biller]))
      await c.close()
    }
  }

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

  @Test("a corrupt practiced database makes the daemon refuse to start with a clear message, and leaves the file alone")
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

  @Test("a foreign database file makes the daemon refuse to start, and leaves the file alone")
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
