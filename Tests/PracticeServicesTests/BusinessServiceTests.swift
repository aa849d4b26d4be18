import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

@Suite("Business information, in process")
struct BusinessServiceTests {
  @Test("a stale expected_version gets VERSION_MISMATCH; an update that changes nothing bumps nothing")
  func versionsAndNoOps() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let first = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"], expected: 1) { $0.legalName = "A" })
      #expect(first.businessInfo.version == 2)
      await expectRPCError(.aborted, .versionMismatch) {
        _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"], expected: 1) { $0.legalName = "B" })
      }
      let before = try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence
      let auditBefore = try await auditEvents(c, s.account).count
      let same = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"], expected: 2) { $0.legalName = "A" })
      #expect(same.businessInfo.version == 2)
      #expect(try await c.accounts.getAccount(Make.get(s.account)).account.changeSequence == before)
      #expect(try await auditEvents(c, s.account).count == auditBefore)
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, []) { $0.legalName = "C" })
      }
      // The practice name is the account's too.
      _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["practice_name"]) { $0.practiceName = "Harbor Health" })
      #expect(try await c.accounts.getAccount(Make.get(s.account)).account.practiceName == "Harbor Health")
    }
  }

  @Test("32 concurrent updaters with versions lose no update")
  func concurrentUpdaters() async throws {
    try await withServices { d in
      let setup = try await d.connect()
      let s = try await Staff.make(setup)
      let successes = try await withThrowingTaskGroup(of: Int.self) { group in
        for i in 0..<32 {
          group.addTask {
            let c = try await d.connect()
            var get = Practice_V1_GetBusinessInfoRequest()
            get.accountID = s.account
            var won = 0
            for attempt in 0..<3 {
              let current = try await c.business.getBusinessInfo(get).businessInfo
              do {
                _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"], expected: current.version) {
                  $0.legalName = "writer \(i) attempt \(attempt)"
                })
                won += 1
              } catch let e as RPCError where e.reason == .versionMismatch {
                continue
              }
            }
            await c.close()
            return won
          }
        }
        return try await group.reduce(0, +)
      }
      #expect(successes > 0)
      var get = Practice_V1_GetBusinessInfoRequest()
      get.accountID = s.account
      let final = try await setup.business.getBusinessInfo(get).businessInfo
      #expect(final.version == Int64(successes) + 1)
      let events = try await auditEvents(setup, s.account, method: updateBusinessMethod)
      #expect(events.count == successes)
      // Each success's value is in the audit log, and versions are consecutive.
      let versions = events.compactMap { e -> Int64? in
        guard let r = e.afterJson.range(of: #""version": ?"?(\d+)"#, options: .regularExpression) else { return nil }
        return Int64(e.afterJson[r].filter(\.isNumber))
      }
      #expect(versions.sorted() == Array(2...(Int64(successes) + 1)))
    }
  }

  @Test("ResolveSenderEmail returns each source in turn as data changes")
  func senderEmail() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      var req = Practice_V1_ResolveSenderEmailRequest()
      req.accountID = s.account
      req.initiatorUserID = s.scheduler
      req.billCreatorUserID = s.biller
      // Two note practitioners, tried in order: the first has no email yet.
      req.notePractitionerUserIds = [s.supervisor, s.practitioner]
      await expectRPCError(.failedPrecondition, .noSenderEmail) { _ = try await c.business.resolveSenderEmail(req) }

      func setEmail(_ user: String, _ email: String) async throws {
        var u = Practice_V1_UpdateUserRequest()
        u.accountID = s.account
        u.userID = user
        u.updateMask = ["email"]
        u.user.email = email
        _ = try await c.accounts.updateUser(u)
      }
      try await setEmail(s.practitioner, "pat@harbor.example")
      var r = try await c.business.resolveSenderEmail(req)
      #expect(r.source == .notePractitioner && r.email == "pat@harbor.example" && r.userID == s.practitioner)
      try await setEmail(s.supervisor, "sue@harbor.example")
      r = try await c.business.resolveSenderEmail(req)
      #expect(r.source == .notePractitioner && r.userID == s.supervisor)
      // The first release's single field still counts, as the first note practitioner.
      var single = req
      single.notePractitionerUserIds = []
      single.notePractitionerUserID = s.practitioner
      #expect(try await c.business.resolveSenderEmail(single).userID == s.practitioner)
      try await setEmail(s.biller, "bill@harbor.example")
      r = try await c.business.resolveSenderEmail(req)
      #expect(r.source == .billCreator && r.email == "bill@harbor.example")
      try await setEmail(s.scheduler, "sky@harbor.example")
      r = try await c.business.resolveSenderEmail(req)
      #expect(r.source == .initiator && r.email == "sky@harbor.example")
      // An inactive initiator is skipped.
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = s.account
      deactivate.userID = s.scheduler
      _ = try await c.accounts.deactivateUser(deactivate)
      #expect(try await c.business.resolveSenderEmail(req).source == .billCreator)
      _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["email"]) { $0.email = "office@harbor.example" })
      r = try await c.business.resolveSenderEmail(req)
      #expect(r.source == .businessEmail && r.email == "office@harbor.example" && r.userID.isEmpty)
    }
  }

  @Test("audit list filters by time, actor, resource and method, and pages")
  func auditFilters() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let all = try await auditEvents(c, s.account)
      // Created: account, owner, business info, subscription, then 5 AddUser.
      #expect(all.count == 9)
      #expect(all.map(\.eventID) == all.map(\.eventID).sorted())
      var req = Practice_V1_ListAuditEventsRequest()
      req.accountID = s.account
      req.resourceID = s.biller
      #expect(try await c.audit.listAuditEvents(req).events.map(\.resourceID) == [s.biller])
      req.resourceID = ""
      req.method = "/practice.v1.AccountService/AddUser"
      #expect(try await c.audit.listAuditEvents(req).events.count == 5)
      req.method = ""
      req.fromMs = all[3].timeMs
      req.toMs = all[3].timeMs + 1
      #expect(try await c.audit.listAuditEvents(req).events.allSatisfy { $0.timeMs == all[3].timeMs })
      req.fromMs = 0
      req.toMs = 0
      req.pageSize = 3
      var pages = 0
      var seen: [Int64] = []
      repeat {
        let page = try await c.audit.listAuditEvents(req)
        seen += page.events.map(\.eventID)
        req.pageToken = page.nextPageToken
        pages += 1
      } while !req.pageToken.isEmpty
      #expect(pages == 3 && seen == all.map(\.eventID))
      let svc = try await d.connect(as: .service)
      await expectRPCError(.permissionDenied, .roleRequired) {
        var r = Practice_V1_ListAuditEventsRequest()
        r.accountID = s.account
        _ = try await svc.audit.listAuditEvents(r, options: .init(actor: s.biller))
      }
      req.actorUserID = "nobody"
      req.pageToken = ""
      #expect(try await c.audit.listAuditEvents(req).events.isEmpty)

      // The audit table refuses updates, whoever tries.
      let r = try await runCommand("python3", ["-c", """
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1])
        try:
            c.execute("UPDATE audit_events SET method = 'forged'"); c.commit(); sys.exit(1)
        except sqlite3.DatabaseError as e:
            print(e); sys.exit(0 if 'append-only' in str(e) else 2)
        """, d.stateDirectory + "/practiced.db"])
      #expect(r.status == 0, "\(r.out) \(r.err)")
    }
  }
}
