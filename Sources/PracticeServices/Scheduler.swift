import Foundation
import Logging
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// The daemon's own scheduled work: invoices on each anniversary, trial expiry, the end of a failed
/// payment's grace, and the purge of closed accounts past retention. Every job is idempotent: it
/// re-checks what is due inside its own transaction, so running twice, or again after a crash
/// mid-way, does nothing more.
public struct Scheduler: Sendable {
  let env: ServiceEnvironment

  public init(env: ServiceEnvironment) { self.env = env }

  /// The jobs, by the names their audit events carry (`/practice.daemon.Scheduler/NAME`).
  enum Job: String, Sendable {
    case issueInvoice = "IssueInvoice"
    case closeTrialExpired = "CloseTrialExpired"
    case closeNonPayment = "CloseNonPayment"
    case purge = "Purge"
    case notices = "LifecycleNotices"
  }

  /// Runs whatever is due now for every account; returns how many jobs ran.
  public func runDue() async throws -> UInt32 {
    // Idempotency records past their retention go first (PRODUCT.md: kept 24 hours by default).
    let expireBefore = try await env.clock.nowMs() - env.idempotencyRetentionMs
    try await env.store.write { w in try w.expireIdempotency(beforeMs: expireBefore) }
    var ran: UInt32 = 0
    var after: String?
    while true {
      let cursor = after
      let ids = try await env.store.read { r in try r.accountIDs(after: cursor, limit: 500) }
      guard let last = ids.last else { break }
      for id in ids {
        do {
          ran += try await runAccount(id)
        } catch {
          env.logger.error("scheduled work failed", metadata: ["account": "\(id)", "error": "\(error)"])
        }
      }
      after = last
    }
    return ran
  }

  /// One job in its own transaction, as the daemon (an operator actor, no call behind it).
  private func job(_ job: Job, _ accountID: String, _ body: @escaping @Sendable (MutationContext) throws -> Bool)
    async throws -> Bool
  {
    let now = try await env.clock.nowMs()
    let changes = env.changes
    let did = try await env.store.write { w -> Bool in
      try w.lockAccount(accountID)
      let account = try w.account(accountID)
      let mc = MutationContext(writer: w, actor: Actor(userID: "", roles: RoleSet([]), isOperator: true), nowMs: now,
                               account: account, origin: .scheduler(job.rawValue), env: env)
      let did = try body(mc)
      let events = mc.changes
      if !events.isEmpty { w.afterCommit { changes.publish(events) } }
      return did
    }
    if did { env.logger.info("scheduled work done", metadata: ["job": "\(job.rawValue)", "account": "\(accountID)"]) }
    return did
  }

  func runAccount(_ accountID: String) async throws -> UInt32 {
    var ran: UInt32 = 0
    let terms = env.terms
    // Invoices, one period per transaction, oldest first.
    while try await job(.issueInvoice, accountID, { mc in try Self.issueNextInvoice(mc, terms: terms) }) { ran += 1 }
    if try await job(.closeTrialExpired, accountID, { mc in
      guard let a = mc.account, a.state == .active, let s = try mc.writer.subscription(account: a.accountID),
        s.plan == .trial, !s.planChosen, mc.nowMs >= s.trialEndsAtMs
      else { return false }
      try Closing.close(mc, a, reason: .trialExpired, terms: terms)
      return true
    }) { ran += 1 }
    if try await job(.closeNonPayment, accountID, { mc in
      guard let a = mc.account, a.state == .active, let s = try mc.writer.subscription(account: a.accountID),
        s.graceEndsAtMs != 0, mc.nowMs >= s.graceEndsAtMs,
        try mc.writer.invoiceCount(account: a.accountID, statuses: [.failed]) > 0
      else { return false }
      try Closing.close(mc, a, reason: .nonPayment, terms: terms)
      return true
    }) { ran += 1 }
    if try await job(.purge, accountID, { mc in
      guard let a = mc.account, a.state == .closed, a.retentionEndsAtMs != 0, mc.nowMs >= a.retentionEndsAtMs,
        !(try mc.writer.subscription(account: a.accountID)?.archiveSubscription ?? false)
      else { return false }
      try Closing.purge(mc, a)
      return true
    }) { ran += 1 }
    if try await job(.notices, accountID, { mc in try Self.sendNotices(mc) }) { ran += 1 }
    return ran
  }

  /// The NOTICE change events due now (PRODUCT.md): 7 days before each lifecycle step (while more
  /// than a day is left) and 1 day before it, each once (`lifecycle_notices` remembers what went out, in
  /// the same transaction as its change event). Not audited: nothing changed.
  static func sendNotices(_ mc: MutationContext) throws -> Bool {
    guard let account = mc.account, account.state != .purged else { return false }
    let dates = BillingService.lifecycle(account, try mc.writer.subscription(account: account.accountID))
    let steps: [(Practice_V1_LifecycleStep, Int64)] = [
      (.trialEnd, dates.trialEndsAtMs), (.graceEnd, dates.graceEndsAtMs), (.retentionEnd, dates.retentionEndsAtMs),
    ]
    var sent = false
    for (step, at) in steps where at > mc.nowMs {
      for days: Int32 in [7, 1] {
        let from = at - Int64(days) * BillingRules.dayMs
        let until = days == 7 ? at - BillingRules.dayMs : at
        guard mc.nowMs >= from, mc.nowMs < until,
          try !mc.writer.noticeSent(account: account.accountID, step: step, atMs: at, daysBefore: days)
        else { continue }
        try mc.writer.putNotice(account: account.accountID, step: step, atMs: at, daysBefore: days, sentAtMs: mc.nowMs)
        var notice = Practice_V1_LifecycleNotice()
        notice.step = step
        notice.atMs = at
        notice.daysBefore = days
        try mc.change(account: account.accountID, .account, id: account.accountID, version: account.version, .notice,
                      notice: notice)
        sent = true
      }
    }
    return sent
  }

  /// The invoice for period `k` as it stands (PreviewInvoice shows the current one).
  static func draft(account: Practice_V1_Account, subscription s: Practice_V1_Subscription, k: Int, reader: any StoreReader,
                    terms: BillingTerms) throws -> Practice_V1_Invoice {
    let tz = account.settings.timeZone
    let from = BillingService.anchor(account, s)
    let start = BillingRules.periodStart(createdAtMs: from, k: k, timeZone: tz)
    let end = BillingRules.periodStart(createdAtMs: from, k: k + 1, timeZone: tz)
    var i = Practice_V1_Invoice()
    i.accountID = account.accountID
    i.periodStart = BillingRules.date(start, timeZone: tz)
    i.periodEnd = BillingRules.date(end, timeZone: tz)
    let usage = try reader.usage(account: account.accountID, periodStart: i.periodStart)
    let (startPlan, changes) = billedPlans(account: account, subscription: s, start: start, end: end, timeZone: tz)
    var (lines, _, _) = BillingRules.invoiceLines(
      plan: startPlan, closed: startPlan == .unspecified, archive: s.archiveSubscription,
      activeClients: usage?.activeClients ?? 0, electronicClaims: usage?.electronicClaims ?? 0, terms: terms)
    // Each change inside the period, prorated by day.
    let periodDays = BillingRules.days(from: start, to: end, timeZone: tz)
    for change in changes {
      lines += BillingRules.prorationLines(
        from: change.fromPlan, to: change.toPlan, daysLeft: BillingRules.days(from: change.atMs, to: end, timeZone: tz),
        periodDays: periodDays, activeClients: usage?.activeClients ?? 0,
        electronicClaims: usage?.electronicClaims ?? 0, terms: terms)
    }
    let total = lines.reduce(0) { $0 + $1.amountMinor }
    i.lines = lines
    i.amountMinor = total
    i.currency = s.currency.isEmpty ? terms.currency : s.currency
    i.status = total == 0 ? .paid : .open
    i.issuedAtMs = end
    return i
  }

  /// What a period is billed for: the plan it started on (`.unspecified` while the account was closed:
  /// nothing is charged then) and the plan changes inside it to prorate. A change on the period's
  /// first day counts as the plan it started on; closing and reopening are changes to and from
  /// `.unspecified`.
  static func billedPlans(
    account: Practice_V1_Account, subscription s: Practice_V1_Subscription, start: Int64, end: Int64, timeZone: String
  ) -> (startPlan: Practice_V1_Plan, changes: [Practice_V1_PlanChange]) {
    let since = s.planChanges.filter { $0.atMs >= start }
    var startPlan = since.first?.fromPlan ?? (account.state == .active ? s.plan : .unspecified)
    var inside: [Practice_V1_PlanChange] = []
    for change in since where change.atMs < end {
      if BillingRules.days(from: start, to: change.atMs, timeZone: timeZone) == 0 {
        startPlan = change.toPlan
      } else {
        inside.append(change)
      }
    }
    return (startPlan, inside)
  }

  /// Issues the oldest period that ended without an invoice; false when there is none.
  static func issueNextInvoice(_ mc: MutationContext, terms: BillingTerms) throws -> Bool {
    guard let account = mc.account, account.state != .purged, let s = try mc.writer.subscription(account: account.accountID),
      BillingService.billed(s)  // trial days are never invoiced
    else { return false }
    let tz = account.settings.timeZone
    let from = BillingService.anchor(account, s)
    let current = BillingRules.periodIndex(createdAtMs: from, nowMs: mc.nowMs, timeZone: tz)
    // Periods after the last invoice, up to the one before the current period.
    var k = 0
    if let last = try mc.writer.invoices(account: account.accountID, beforeNumber: nil, limit: 1).first {
      while k < current,
        BillingRules.date(BillingRules.periodStart(createdAtMs: from, k: k, timeZone: tz), timeZone: tz) <= last.periodStart
      {
        k += 1
      }
    }
    while k < current {
      // A period closed from its start, without the archive subscription, has nothing to bill.
      let periodStart = BillingRules.periodStart(createdAtMs: from, k: k, timeZone: tz)
      let periodEnd = BillingRules.periodStart(createdAtMs: from, k: k + 1, timeZone: tz)
      let (startPlan, changes) = billedPlans(account: account, subscription: s, start: periodStart, end: periodEnd, timeZone: tz)
      if startPlan != .unspecified || !changes.isEmpty || s.archiveSubscription {
        var invoice = try draft(account: account, subscription: s, k: k, reader: mc.writer, terms: terms)
        if try mc.writer.invoice(account: account.accountID, periodStart: invoice.periodStart) != nil { k += 1; continue }
        invoice.invoiceID = IDs.make("inv")
        invoice.number = try mc.writer.maxInvoiceNumber(account: account.accountID) + 1
        invoice.version = 1
        try mc.writer.putInvoice(invoice)
        try mc.record(account: account.accountID, .invoice, id: invoice.invoiceID, version: 1, .created,
                      before: nil, after: invoice)
        // The plan changes this invoice prorated are done with.
        if s.planChanges.contains(where: { $0.atMs < periodEnd }) {
          var pruned = s
          pruned.planChanges = s.planChanges.filter { $0.atMs >= periodEnd }
          _ = try BillingService.save(mc, before: s, after: pruned)
        }
        return true
      }
      k += 1
    }
    return false
  }
}

/// Closing, reopening and purging an account (PRODUCT.md, "Closing an account").
enum Closing {
  static func close(_ mc: MutationContext, _ account: Practice_V1_Account, reason: Practice_V1_CloseReason,
                    terms: BillingTerms) throws {
    let archive = try mc.writer.subscription(account: account.accountID)?.archiveSubscription ?? false
    var a = account
    a.state = .closed
    a.closedAtMs = mc.nowMs
    a.closeReason = reason
    a.retentionEndsAtMs = archive ? 0 : mc.nowMs + Int64(terms.retentionDays) * BillingRules.dayMs
    try AccountService.saveAccount(mc, before: account, after: a, note: "closed: \(reason)")
    // The closing period is charged up to the closing day; nothing after it.
    if let s = try mc.writer.subscription(account: account.accountID), BillingService.billed(s), s.plan != .trial {
      var updated = s
      updated.planChanges.append(BillingService.planChange(at: mc.nowMs, from: s.plan, to: .unspecified))
      _ = try BillingService.save(mc, before: s, after: updated)
    }
  }

  /// Deletes the account's data in the caller's transaction. What remains: the tombstone (id, practice
  /// name, closed and purged times), the invoices, and the purge's own audit event.
  static func purge(_ mc: MutationContext, _ account: Practice_V1_Account) throws {
    try mc.writer.purgeAccountData(account: account.accountID)
    var tombstone = Practice_V1_Account()
    tombstone.accountID = account.accountID
    tombstone.practiceName = account.practiceName
    tombstone.state = .purged
    tombstone.closedAtMs = account.closedAtMs
    tombstone.closeReason = account.closeReason
    tombstone.purgedAtMs = mc.nowMs
    tombstone.createdAtMs = account.createdAtMs
    tombstone.version = account.version + 1
    tombstone.updatedAtMs = mc.nowMs
    try mc.writer.updateAccount(tombstone)
    try mc.audit(account: account.accountID, .account, id: account.accountID, note: "purged after retention")
    try mc.change(account: account.accountID, .account, id: account.accountID, version: tombstone.version, .updated)
  }
}
