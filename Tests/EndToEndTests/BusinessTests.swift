import Foundation
import Glibc
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import Synchronization
import Testing

@Suite("Business information and the mutation path", .serialized)
struct BusinessTests {
  @Test("a practitioner may not update; an administrator may, with exactly one audit event with before and after")
  func rolesAndAudit() async throws {
    try await withDaemon { d in
      let op = try await d.connect()
      let s = try await Staff.make(op)
      let svc = try await d.connect(as: .service)
      let change = businessUpdate(s.account, ["legal_name", "phone"]) {
        $0.legalName = "Harbor Therapy LLC"
        $0.phone = "617-555-0100"
      }
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.business.updateBusinessInfo(change, options: .init(actor: s.practitioner))
      }
      let updated = try await svc.business.updateBusinessInfo(change, options: .init(actor: s.admin, requestID: "req-42"))
        .businessInfo
      #expect(updated.version == 2 && updated.legalName == "Harbor Therapy LLC" && updated.phone == "6175550100")

      let events = try await auditEvents(op, s.account, method: updateBusinessMethod)
      #expect(events.count == 1)
      let e = try #require(events.first)
      #expect(e.actorUserID == s.admin && e.actorPeer == "service" && e.requestID == "req-42")
      #expect(e.resourceKind == .businessInfo && e.resourceID == s.account)
      #expect(!e.beforeJson.contains("Harbor Therapy LLC") && e.afterJson.contains("Harbor Therapy LLC"))
      #expect(e.afterJson.contains("6175550100") && e.peerUid == 0 && e.peerPid > 0 && e.timeMs > 0)
      #expect(d.log.contains("mutation applied") && d.log.contains("UpdateBusinessInfo"))
    }
  }

  @Test("every field and its validation, end to end; the tax id is masked unless an administrator asks (audited)")
  func fieldsAndTaxID() async throws {
    try await withDaemon { d in
      let op = try await d.connect()
      let s = try await Staff.make(op)
      let bad = await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await op.business.updateBusinessInfo(businessUpdate(s.account, ["npi", "npi_entity_type", "billing_provider_type",
                                                                               "address", "billing_provider_address"]) {
          $0.npi = "1093791627"
          $0.npiEntityType = .type2
          $0.billingProviderType = .individual
          $0.address.line1 = "1 Main St"
          $0.address.city = "Boston"
          $0.address.state = "MA"
          $0.address.zip = "1234"
          $0.billingProviderAddress.line1 = "PO Box 12"
          $0.billingProviderAddress.city = "Boston"
          $0.billingProviderAddress.state = "MA"
          $0.billingProviderAddress.zip = "02134"
        })
      }
      #expect(Set(bad?.violations.map(\.field) ?? []) == [
        "business_info.npi", "business_info.npi_entity_type", "business_info.address.zip",
        "business_info.billing_provider_address.line1",
      ])
      let nul = await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await op.business.updateBusinessInfo(businessUpdate(s.account, ["practice_name"]) { $0.practiceName = "Bad\u{0}Name" })
      }
      #expect(nul?.violations.map(\.field) == ["business_info.practice_name"])

      let full = businessUpdate(s.account, [
        "legal_name", "billing_provider_type", "tax_id", "tax_id_type", "npi", "npi_entity_type", "taxonomy_code",
        "phone", "fax", "email", "website", "address", "billing_provider_address", "pay_to_address",
      ]) {
        $0.legalName = "Harbor Therapy LLC"
        $0.billingProviderType = .organization
        $0.taxID = "98-7654321"
        $0.taxIDType = .ein
        $0.npi = "1234567893"
        $0.npiEntityType = .type2
        $0.taxonomyCode = "101YM0800X"
        $0.phone = "(617) 555-0100"
        $0.fax = "+44 20 7946 0958"
        $0.email = "office@harbor.example"
        $0.website = "https://harbor.example"
        $0.address.line1 = "12 Harbor St"
        $0.address.city = "Boston"
        $0.address.state = "MA"
        $0.address.zip = "02134-1234"
        $0.billingProviderAddress = $0.address
        $0.payToAddress.line1 = "PO Box 12"
        $0.payToAddress.city = "Boston"
        $0.payToAddress.state = "MA"
        $0.payToAddress.zip = "02134"
      }
      let stored = try await op.business.updateBusinessInfo(full).businessInfo
      #expect(stored.taxID == "**-***4321" && stored.taxIDMasked)
      #expect(stored.address.zip == "021341234" && stored.payToAddress.line1 == "PO Box 12")

      let svc = try await d.connect(as: .service)
      var get = Practice_V1_GetBusinessInfoRequest()
      get.accountID = s.account
      #expect(try await svc.business.getBusinessInfo(get, options: .init(actor: s.practitioner)).businessInfo.taxID == "**-***4321")
      get.fullTaxID = true
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.business.getBusinessInfo(get, options: .init(actor: s.biller))
      }
      let clear = try await svc.business.getBusinessInfo(get, options: .init(actor: s.admin)).businessInfo
      #expect(clear.taxID == "98-7654321" && !clear.taxIDMasked)
      let events = try await auditEvents(op, s.account)
      let reads = events.filter { $0.note == "full tax id read" }
      #expect(reads.count == 1 && reads[0].actorUserID == s.admin)
      // No secret in full in the audit log or the daemon's log.
      #expect(!events.contains { $0.beforeJson.contains("7654321") || $0.afterJson.contains("7654321") })
      #expect(events.contains { $0.afterJson.contains("4321") })
      #expect(!d.log.contains("7654321") && !d.log.contains("987654321"))
    }
  }

  @Test("a retried idempotent update applies once, also across a restart; another payload with the key is refused")
  func idempotency() async throws {
    try await withDaemon { d in
      var c = try await d.connect()
      let s = try await Staff.make(c)
      let req = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Once LLC" }
      let options = CallOptions(idempotencyKey: "key-1")
      let first = try await c.business.updateBusinessInfo(req, options: options)
      let again = try await c.business.updateBusinessInfo(req, options: options)
      #expect(first == again && first.businessInfo.version == 2)
      await c.close()
      try await d.restart()
      c = try await d.connect()
      let afterRestart = try await c.business.updateBusinessInfo(req, options: options)
      #expect(afterRestart == first)
      #expect(try await auditEvents(c, s.account, method: updateBusinessMethod).count == 1)
      let other = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Twice LLC" }
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await c.business.updateBusinessInfo(other, options: options)
      }
      // The record is keyed on the request's bytes as they arrived: the same message with its fields
      // in another order is another payload (a re-encoding would have made the two equal).
      let canonical = try req.serializedData()
      var a = Practice_V1_UpdateBusinessInfoRequest()
      a.accountID = req.accountID
      var m = Practice_V1_UpdateBusinessInfoRequest()
      m.updateMask = req.updateMask
      var b = Practice_V1_UpdateBusinessInfoRequest()
      b.businessInfo = req.businessInfo
      let reordered = try b.serializedData() + m.serializedData() + a.serializedData()
      #expect(reordered != canonical)
      #expect(try Practice_V1_UpdateBusinessInfoRequest(serializedBytes: reordered) == req)
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await c.unary(method: updateBusinessMethod, payload: reordered, options: options)
      }
      // A recorded failure replays too.
      let invalid = businessUpdate(s.account, ["phone"]) { $0.phone = "1" }
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.business.updateBusinessInfo(invalid, options: .init(idempotencyKey: "key-2"))
      }
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.business.updateBusinessInfo(invalid, options: .init(idempotencyKey: "key-2"))
      }
      // CreateAccount is scoped by the peer's uid.
      let acct = try await c.accounts.createAccount(Make.account("Idem Clinic"), options: .init(idempotencyKey: "create-1"))
      let acct2 = try await c.accounts.createAccount(Make.account("Idem Clinic"), options: .init(idempotencyKey: "create-1"))
      #expect(acct.account.accountID == acct2.account.accountID)
    }
  }

  @Test("a retry while the first call still runs gets IDEMPOTENCY_IN_PROGRESS")
  func idempotencyInProgress() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      // Hold the account's write lock from outside so the first call waits inside its write.
      let holder = try await d.holdWriteLock(account: s.account, seconds: 1.5)
      let req = businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Slow LLC" }
      let first = Task { try await c.business.updateBusinessInfo(req, options: .init(idempotencyKey: "slow")) }
      try await Task.sleep(for: .milliseconds(300))
      await expectRPCError(.aborted, .idempotencyInProgress) {
        _ = try await c.business.updateBusinessInfo(req, options: .init(idempotencyKey: "slow"))
      }
      #expect(try await first.value.businessInfo.legalName == "Slow LLC")
      await holder.wait()
    }
  }

}
