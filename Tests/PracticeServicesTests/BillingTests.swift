import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

/// Rows left for an account, table by table, read from the database file itself (not through the
/// store).
func rowCounts(_ d: ServiceHarness, _ account: String) async throws -> [String: Int] {
  let r = try await runCommand("python3", ["-c", """
    import sqlite3, sys, json
    c = sqlite3.connect(sys.argv[1])
    out = {}
    for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' AND name != 'health_probe'"):
        cols = [r[1] for r in c.execute("PRAGMA table_info(%s)" % t)]
        col = 'account_id' if 'account_id' in cols else ('scope' if 'scope' in cols else ('id' if t == 'accounts' else None))
        if col is None:
            out[t] = -1
            continue
        out[t] = c.execute("SELECT count(*) FROM %s WHERE %s = ?" % (t, col), (sys.argv[2],)).fetchone()[0]
    print(json.dumps(out))
    """, d.stateDirectory + "/practiced.db", account])
  return try JSONDecoder().decode([String: Int].self, from: Data(r.out.utf8))
}

@Suite("Billing, driven by the clock", .serialized)
struct BillingTests {
  @Test("a trial that ends without ChangePlan closes the account, with or without a card")
  func trialExpiry() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let bare = try await c.accounts.createAccount(Make.account("No Card", email: "")).account.accountID
      let carded = try await c.accounts.createAccount(Make.account("With Card", email: "")).account.accountID
      _ = try await c.billing.setPaymentMethod(card(carded))
      let chosen = try await c.accounts.createAccount(Make.account("Chose", email: "")).account.accountID
      _ = try await c.billing.setPaymentMethod(card(chosen))
      _ = try await c.billing.changePlan(plan(chosen, .professional))
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = bare
      let s = try await c.billing.getSubscription(sub).subscription
      #expect(s.plan == .trial && !s.chargeable && s.trialEndsAtMs > 0)

      try await advance(c, days: 29)
      #expect(try await state(c, bare).state == .active)
      try await advance(c, days: 1.5)
      for id in [bare, carded] {
        let a = try await state(c, id)
        #expect(a.state == .closed && a.closeReason == .trialExpired && a.retentionEndsAtMs > a.closedAtMs)
      }
      #expect(try await state(c, chosen).state == .active)
      // The close is audited as the daemon's own work: its job, an operator peer, no request id.
      var q = auditQuery(bare)
      q.method = "/practice.daemon.Scheduler/CloseTrialExpired"
      let closes = try await c.audit.listAuditEvents(q).events
      #expect(closes.count == 1)
      #expect(closes.first?.actorPeer == "operator" && closes.first?.peerUid == 0 && closes.first?.requestID == "")
      // Reopening after trial expiry needs a card; then the account continues on a paid plan.
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = bare
      await expectRPCError(.failedPrecondition, .paymentMethodRequired) { _ = try await c.accounts.reopenAccount(reopen) }
      reopen.accountID = carded
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)
      var sub2 = Practice_V1_GetSubscriptionRequest()
      sub2.accountID = carded
      let after = try await c.billing.getSubscription(sub2).subscription
      #expect(after.plan == .freemium && after.planChosen)
      // And the scheduler does not close it again.
      try await advance(c, days: 2)
      #expect(try await state(c, carded).state == .active)
    }
  }

  @Test("FREEMIUM: 3 clients and no claims is a 0-amount PAID invoice; 4 clients or 1 e-claim is charged; usage keeps the maximum")
  func freemium() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-03-10T12:00:00Z")
      let a = try await payingAccount(c, plan: .freemium, ownerRoles: [.practitioner])
      func usage(_ period: String, clients: Int64, claims: Int64) async throws -> Practice_V1_ReportUsageResponse {
        var r = Practice_V1_ReportUsageRequest()
        r.accountID = a
        r.periodStart = period
        r.activeClients = clients
        r.electronicClaims = claims
        return try await c.billing.reportUsage(r)
      }
      _ = try await usage("2030-03-10", clients: 3, claims: 0)
      let again = try await usage("2030-03-10", clients: 2, claims: 0)  // a retry or a late lower count
      #expect(again.activeClients == 3)
      var preview = Practice_V1_PreviewInvoiceRequest()
      preview.accountID = a
      #expect(try await c.billing.previewInvoice(preview).invoice.amountMinor == 0)
      try await advance(c, to: "2030-04-10T00:30:00Z")
      _ = try await usage("2030-04-10", clients: 4, claims: 0)
      try await advance(c, to: "2030-05-10T00:30:00Z")
      _ = try await usage("2030-05-10", clients: 1, claims: 1)
      try await advance(c, to: "2030-06-10T00:30:00Z")
      let list = try await invoices(c, a)
      #expect(list.map(\.periodStart) == ["2030-05-10", "2030-04-10", "2030-03-10"])
      let byPeriod = Dictionary(uniqueKeysWithValues: list.map { ($0.periodStart, $0) })
      #expect(byPeriod["2030-03-10"]?.amountMinor == 0 && byPeriod["2030-03-10"]?.status == .paid)
      #expect(byPeriod["2030-04-10"]?.amountMinor == 1900 && byPeriod["2030-04-10"]?.status == .open)
      #expect(byPeriod["2030-05-10"]?.amountMinor == 1900 && byPeriod["2030-05-10"]?.currency == "USD")
      #expect(list.map(\.number) == [3, 2, 1])
      await expectRPCError(.failedPrecondition, .periodClosed) { _ = try await usage("2030-04-10", clients: 9, claims: 9) }
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await usage("2030-04-11", clients: 1, claims: 0) }
      // FREEMIUM allows one active practitioner.
      await expectRPCError(.failedPrecondition, .planLimit) {
        _ = try await c.accounts.addUser(Make.user(a, "Second", roles: [.practitioner]))
      }
      _ = try await c.accounts.addUser(Make.user(a, "Biller", roles: [.biller]))
      // A scheduler run again issues nothing twice.
      try await advance(c, days: 0.1)
      #expect(try await invoices(c, a).count == 3)
    }
  }

  @Test("an invoice on the anniversary day each month for 13 months, from a Jan 31 sign-up across a leap year")
  func anniversaries() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2028-01-31T15:00:00Z")
      let a = try await payingAccount(c)
      let expected = ["2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31", "2028-06-30", "2028-07-31", "2028-08-31",
                      "2028-09-30", "2028-10-31", "2028-11-30", "2028-12-31", "2029-01-31", "2029-02-28"]
      for (n, date) in expected.enumerated() {
        // The day before: nothing new. The day itself: the invoice.
        let dayBefore = ISO8601DateFormatter().date(from: date + "T00:00:00Z")!.addingTimeInterval(-3600)
        try await advance(c, to: ISO8601DateFormatter().string(from: dayBefore))
        #expect(try await invoices(c, a).count == n, "before \(date)")
        try await advance(c, to: date + "T00:30:00Z")
        let list = try await invoices(c, a)
        #expect(list.count == n + 1, "on \(date)")
        #expect(list.first?.periodEnd == date && list.first?.amountMinor == 5900 && list.first?.number == Int64(n + 1))
        #expect(list.first.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0.issuedAtMs) / 1000)).hasPrefix(date) } == true)
      }
      #expect(try await invoices(c, a).last?.periodStart == "2028-01-31")
    }
  }

  @Test("a failed payment gives 7 days of grace, then the account closes; a paid one ends the grace")
  func grace() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await c.accounts.createAccount(Make.account("Late Payer", email: "")).account.accountID
      let b = try await c.accounts.createAccount(Make.account("Recovers", email: "")).account.accountID
      for id in [a, b] {
        _ = try await c.billing.setPaymentMethod(card(id))
        _ = try await c.billing.changePlan(plan(id, .professional))
      }
      try await advance(c, to: "2030-02-05T01:00:00Z")
      for id in [a, b] {
        let inv = try #require(try await invoices(c, id).first)
        var pay = Practice_V1_RecordPaymentRequest()
        pay.accountID = id
        pay.invoiceID = inv.invoiceID
        pay.paid = false
        pay.processorReference = "ch_failed_1"
        #expect(try await c.billing.recordPayment(pay).invoice.status == .failed)
      }
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = a
      #expect(try await c.billing.getSubscription(sub).subscription.graceEndsAtMs > 0)
      try await advance(c, days: 3)
      let inv = try #require(try await invoices(c, b).first)
      var pay = Practice_V1_RecordPaymentRequest()
      pay.accountID = b
      pay.invoiceID = inv.invoiceID
      pay.paid = true
      pay.processorReference = "ch_ok_2"
      #expect(try await c.billing.recordPayment(pay).invoice.status == .paid)
      try await advance(c, days: 3.9)
      #expect(try await state(c, a).state == .active)
      try await advance(c, days: 0.2)
      let closed = try await state(c, a)
      #expect(closed.state == .closed && closed.closeReason == .nonPayment)
      #expect(try await state(c, b).state == .active)
      // Reopening after non-payment needs every invoice paid.
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = a
      await expectRPCError(.failedPrecondition, .unpaidInvoice) { _ = try await c.accounts.reopenAccount(reopen) }
      let unpaid = try #require(try await invoices(c, a).first)
      pay.accountID = a
      pay.invoiceID = unpaid.invoiceID
      _ = try await c.billing.recordPayment(pay)
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)
    }
  }

  @Test("plans need a card; FREEMIUM needs one practitioner; an expired card is refused; a card can't be removed while needed")
  func planRules() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let a = try await c.accounts.createAccount(Make.account(ownerRoles: [.practitioner])).account.accountID
      await expectRPCError(.failedPrecondition, .paymentMethodRequired) { _ = try await c.billing.changePlan(plan(a, .professional)) }
      let expired = await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.billing.setPaymentMethod(card(a, expiry: "2020-01"))
      }
      #expect(expired?.violations.map(\.field) == ["payment_method.expiry"])
      let s = try await c.billing.setPaymentMethod(card(a)).subscription
      #expect(s.paymentMethod.last4 == "4242" && s.paymentMethod.processorToken.isEmpty)
      _ = try await c.accounts.addUser(Make.user(a, "Second", roles: [.practitioner]))
      await expectRPCError(.failedPrecondition, .planLimit) { _ = try await c.billing.changePlan(plan(a, .freemium)) }
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.billing.changePlan(plan(a, .trial)) }
      _ = try await c.billing.changePlan(plan(a, .professional))
      var remove = Practice_V1_RemovePaymentMethodRequest()
      remove.accountID = a
      await expectRPCError(.failedPrecondition, .paymentMethodRequired) { _ = try await c.billing.removePaymentMethod(remove) }
      var tax = Practice_V1_GetTaxFormInfoRequest()
      tax.accountID = a
      let info = try await c.billing.getTaxFormInfo(tax)
      #expect(!info.vendorIssues1099 && info.explanation.contains("payment processor"))
      // Billers may read billing; practitioners may not.
      let svc = try await d.connect(as: .service)
      let users = try await c.accounts.listUsers({ var r = Practice_V1_ListUsersRequest(); r.accountID = a; return r }()).users
      let second = try #require(users.first { $0.name == "Second" })
      await expectRPCError(.permissionDenied, .roleRequired) {
        var r = Practice_V1_GetSubscriptionRequest()
        r.accountID = a
        _ = try await svc.billing.getSubscription(r, options: .init(actor: second.userID))
      }
    }
  }
}

@Suite("Closing an account", .serialized)
struct ClosingTests {
  @Test("close needs the name typed back; a closed account is read-only except the listed calls; reopen on day 29")
  func closeAndReopen() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      _ = try await c.billing.changePlan(plan(s.account, .professional))
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = s.account
      close.confirmPracticeName = "Harbor"
      await expectRPCError(.failedPrecondition, .confirmationMismatch) { _ = try await c.accounts.closeAccount(close) }
      let svc = try await d.connect(as: .service)
      close.confirmPracticeName = "  Harbor Therapy \n"
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.accounts.closeAccount(close, options: .init(actor: s.admin))
      }
      let closed = try await svc.accounts.closeAccount(close, options: .init(actor: s.owner)).account
      #expect(closed.state == .closed && closed.closeReason == .ownerRequest)

      await expectRPCError(.failedPrecondition, .accountClosed) {
        _ = try await c.accounts.addUser(Make.user(s.account, "Late", roles: [.biller]))
      }
      await expectRPCError(.failedPrecondition, .accountClosed) {
        _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"]) { $0.legalName = "X" })
      }
      await expectRPCError(.failedPrecondition, .accountClosed) {
        _ = try await c.locations.createLocation(office(s.account))
      }
      // Reads, ExportAccount and the listed exceptions keep working.
      #expect(try await state(c, s.account).state == .closed)
      var export = Practice_V1_ExportAccountRequest()
      export.accountID = s.account
      var exportedUsers = 0
      for try await chunk in try c.accounts.exportAccount(export) { exportedUsers += chunk.users.count }
      #expect(exportedUsers == 6)
      var users = Practice_V1_ListUsersRequest()
      users.accountID = s.account
      #expect(try await c.accounts.listUsers(users).users.count == 6)
      _ = try await c.billing.setPaymentMethod(card(s.account, token: "tok_new"))
      try await advance(c, days: 29)
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = s.account
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)
      _ = try await c.accounts.addUser(Make.user(s.account, "Back", roles: [.biller]))
    }
  }

  @Test("close, day 31: purged; only the tombstone, the invoices and the purge's audit and change events remain, table by table")
  func purge() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      _ = try await c.billing.changePlan(plan(s.account, .professional))
      let loc = try await c.locations.createLocation(office(s.account)).location.locationID
      var room = Practice_V1_CreateRoomRequest()
      room.accountID = s.account
      room.room.name = "R"
      room.room.locationIds = [loc]
      _ = try await c.accounts.addUser(Make.user(s.account, "P2", roles: [.practitioner]))
      let r = try await c.rooms.createRoom(room).room.roomID
      let staff = s
      _ = try await c.rooms.bookRoom(book(staff, room: r, location: loc, start: monday))
      _ = try await c.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"], { $0.legalName = "Harbor LLC" }),
                                                  options: .init(idempotencyKey: "k1"))
      try await advance(c, days: 32)  // one invoice
      #expect(try await invoices(c, s.account).count == 1)
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = s.account
      close.confirmPracticeName = "Harbor Therapy"
      _ = try await c.accounts.closeAccount(close)
      try await advance(c, days: 31)
      let tomb = try await state(c, s.account)
      #expect(tomb.state == .purged && tomb.practiceName == "Harbor Therapy" && tomb.purgedAtMs > tomb.closedAtMs)
      let counts = try await rowCounts(d, s.account)
      for (table, n) in counts {
        switch table {
        case "accounts": #expect(n == 1, "tombstone")
        case "invoices": #expect(n == 2, "invoices: the first period's and the closing period's")
        case "audit_events": #expect(n == 1, "the purge's audit event")
        case "change_events": #expect(n == 1, "the purge's change event")
        default: #expect(n == 0, "\(table) still has \(n) row(s)")
        }
      }
      #expect(counts.count == 14 && !counts.values.contains(-1))
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = s.account
      await expectRPCError(.failedPrecondition, .retentionOver) { _ = try await c.accounts.reopenAccount(reopen) }
      var inv = Practice_V1_ListInvoicesRequest()
      inv.accountID = s.account
      let kept = try await c.billing.listInvoices(inv).invoices
      #expect(kept.count == 2)
      // The closing period is charged up to the closing day only.
      let closing = try #require(kept.first)
      #expect(closing.amountMinor > 0 && closing.amountMinor < 5900 / 10, "\(closing.lines)")
    }
  }

  @Test("an archive subscription keeps a closed account's data; when it ends, retention starts again")
  func archive() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let a = try await payingAccount(c)
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = a
      close.confirmPracticeName = "Harbor Therapy"
      _ = try await c.accounts.closeAccount(close)
      var archive = Practice_V1_SetArchiveSubscriptionRequest()
      archive.accountID = a
      archive.active = true
      _ = try await c.billing.setArchiveSubscription(archive)
      #expect(try await state(c, a).retentionEndsAtMs == 0)
      try await advance(c, days: 400)
      let kept = try await state(c, a)
      #expect(kept.state == .closed)
      let archived = try await invoices(c, a)
      #expect(archived.count >= 12 && archived.allSatisfy { $0.lines.map(\.description_p) == ["Archive storage"] && $0.amountMinor == 900 })
      archive.active = false
      _ = try await c.billing.setArchiveSubscription(archive)
      #expect(try await state(c, a).retentionEndsAtMs > 0)
      try await advance(c, days: 29)
      #expect(try await state(c, a).state == .closed)
      try await advance(c, days: 1.5)
      #expect(try await state(c, a).state == .purged)
    }
  }

  @Test("ownership moves to another active user; the old owner keeps ADMINISTRATOR")
  func transfer() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let svc = try await d.connect(as: .service)
      var t = Practice_V1_TransferOwnershipRequest()
      t.accountID = s.account
      t.newOwnerUserID = s.biller
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.accounts.transferOwnership(t, options: .init(actor: s.admin))
      }
      let r = try await svc.accounts.transferOwnership(t, options: .init(actor: s.owner))
      #expect(r.account.ownerUserID == s.biller && r.newOwner.roles == [.owner, .biller])
      #expect(r.previousOwner.roles == [.administrator])
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = s.account
      deactivate.userID = s.owner
      _ = try await c.accounts.deactivateUser(deactivate)
      deactivate.userID = s.biller
      await expectRPCError(.failedPrecondition, .ownerRule) { _ = try await c.accounts.deactivateUser(deactivate) }
    }
  }
}
