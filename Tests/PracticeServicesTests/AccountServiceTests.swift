import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

@Suite("Accounts and users, in process")
struct AccountServiceTests {
  @Test("create, get, list with paging, settings")
  func accounts() async throws {
    try await withServices { d in
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

  @Test("the typed client's paging helper: every page, each fetched when asked, from the request's token")
  func pages() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      var req = Practice_V1_ListUsersRequest()
      req.accountID = s.account
      req.pageSize = 4
      var sizes: [Int] = []
      var ids: [String] = []
      for try await page in c.accounts.listUsersPages(req) {
        sizes.append(page.users.count)
        ids += page.users.map(\.userID)
      }
      #expect(sizes == [4, 2] && Set(ids).count == 6)
      // Breaking off fetches no more pages; starting from a token starts there.
      var first: Practice_V1_ListUsersResponse?
      for try await page in c.accounts.listUsersPages(req) { first = page; break }
      req.pageToken = try #require(first?.nextPageToken)
      var rest: [String] = []
      for try await page in c.accounts.listUsersPages(req) { rest += page.users.map(\.userID) }
      #expect(rest == Array(ids.suffix(2)))
      // A refusal is thrown from the iteration.
      req.pageToken = "not-a-token"
      await expectRPCError(.invalidArgument, .validationFailed) {
        for try await _ in c.accounts.listUsersPages(req) {}
      }
    }
  }

  @Test("bad inputs: field violations, all at once; NOT_FOUND; empty mask")
  func badInputs() async throws {
    try await withServices { d in
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
    try await withServices { d in
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
      // OWNER is neither granted nor removed by UpdateUser: both are refused, never silently ignored.
      update.user.roles = [.owner]
      await expectRPCError(.failedPrecondition, .ownerRule) { _ = try await c.accounts.updateUser(update) }
      var ownerUpdate = Practice_V1_UpdateUserRequest()
      ownerUpdate.accountID = acct
      ownerUpdate.userID = created.owner.userID
      ownerUpdate.updateMask = ["roles"]
      ownerUpdate.user.roles = [.practitioner]
      await expectRPCError(.failedPrecondition, .ownerRule) { _ = try await c.accounts.updateUser(ownerUpdate) }
      // The owner's other roles change with OWNER kept in the request; the owner can't be deactivated.
      ownerUpdate.user.roles = [.owner, .administrator]
      #expect(try await c.accounts.updateUser(ownerUpdate).user.roles == [.owner, .administrator])
      ownerUpdate.user.roles = [.owner]
      #expect(try await c.accounts.updateUser(ownerUpdate).user.roles == [.owner])
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
}
