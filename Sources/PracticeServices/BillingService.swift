import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.BillingService: the subscription, the card on file, usage, invoices and payments.
struct BillingService: BillingServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }


  /// The subscription of a new account: a trial.
  static func initial(account: Practice_V1_Account, terms: BillingTerms) -> Practice_V1_Subscription {
    var s = Practice_V1_Subscription()
    s.accountID = account.accountID
    s.plan = .trial
    s.trialEndsAtMs = account.createdAtMs + Int64(terms.trialDays) * BillingRules.dayMs
    s.currency = terms.currency
    s.version = 1
    return s
  }

  /// Where the account's billing periods run from: the day it first left TRIAL (subscriptions from
  /// before that rule count from the account's creation, as they were billed).
  static func anchor(_ account: Practice_V1_Account, _ s: Practice_V1_Subscription) -> Int64 {
    s.billingAnchorMs != 0 ? s.billingAnchorMs : account.createdAtMs
  }

  /// Whether the account is billed at all yet: not while on its trial.
  static func billed(_ s: Practice_V1_Subscription) -> Bool { s.billingAnchorMs != 0 || s.plan != .trial }

  static func load(_ r: any StoreReader, _ account: String) throws -> Practice_V1_Subscription {
    guard let s = try r.subscription(account: account) else { throw RPCError.notFound("account \(account)") }
    return s
  }

  /// What callers see: the current period and whether it is chargeable; never the processor token.
  static func view(_ stored: Practice_V1_Subscription, account: Practice_V1_Account, nowMs: Int64, reader: any StoreReader) throws
    -> Practice_V1_Subscription
  {
    var s = stored
    let tz = account.settings.timeZone
    let from = Self.anchor(account, stored)
    let k = BillingRules.periodIndex(createdAtMs: from, nowMs: nowMs, timeZone: tz)
    s.periodStart = BillingRules.date(BillingRules.periodStart(createdAtMs: from, k: k, timeZone: tz), timeZone: tz)
    s.periodEnd = BillingRules.date(BillingRules.periodStart(createdAtMs: from, k: k + 1, timeZone: tz), timeZone: tz)
    let usage = try reader.usage(account: account.accountID, periodStart: s.periodStart)
    let (charge, why) = BillingRules.chargeable(plan: s.plan, activeClients: usage?.activeClients ?? 0,
                                                 electronicClaims: usage?.electronicClaims ?? 0)
    s.chargeable = charge && account.state == .active
    s.chargeableReason = account.state == .active ? why : "account closed"
    if case .paymentMethod(var p)? = s.paymentMethodPresence {
      p.processorToken = ""
      s.paymentMethod = p
    }
    return s
  }

  /// A plan change's checks: a card for a paid plan, one practitioner on FREEMIUM.
  static func checkPlan(_ plan: Practice_V1_Plan, subscription: Practice_V1_Subscription, writer: any StoreReader,
                        account: String) throws {
    switch plan {
    case .freemium, .professional: break
    case .trial: throw RPCError.invalidArgument(field: "plan", "a trial can't be chosen; choose FREEMIUM or PROFESSIONAL")
    default: throw RPCError.invalidArgument(field: "plan", "must be FREEMIUM or PROFESSIONAL")
    }
    if subscription.paymentMethodPresence == nil {
      throw RPCError.failedPrecondition(.paymentMethodRequired, "\(BillingRules.planName(plan)) needs a payment method on file")
    }
    if plan == .freemium {
      let users = try writer.users(account: account, after: nil, limit: Int.max, includeInactive: false)
      if AccountRules.activePractitioners(users) > 1 {
        throw RPCError.failedPrecondition(.planLimit, "FREEMIUM allows one active practitioner")
      }
    }
  }

  func getSubscription(_ req: Practice_V1_GetSubscriptionRequest, context ctx: CallContext) async throws
    -> Practice_V1_GetSubscriptionResponse
  {
    try requireID(req.accountID, "account_id")
    let now = try await env.clock.nowMs()
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard let account = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
      var resp = Practice_V1_GetSubscriptionResponse()
      let sub = try Self.load(r, req.accountID)
      resp.subscription = try Self.view(sub, account: account, nowMs: now, reader: r)
      resp.lifecycle = Self.lifecycle(account, sub)
      return resp
    }
  }

  /// When the account's next lifecycle steps fall (PRODUCT.md): the trial's end while on a trial with
  /// no plan chosen, a failed payment's grace end, a closed account's purge.
  static func lifecycle(_ account: Practice_V1_Account, _ sub: Practice_V1_Subscription?) -> Practice_V1_LifecycleDates {
    var l = Practice_V1_LifecycleDates()
    if account.state == .active, let sub {
      if sub.plan == .trial && !sub.planChosen { l.trialEndsAtMs = sub.trialEndsAtMs }
      l.graceEndsAtMs = sub.graceEndsAtMs
    }
    if account.state == .closed { l.retentionEndsAtMs = account.retentionEndsAtMs }
    return l
  }

  /// Grace ends when no FAILED invoice is left (an invoice issued during grace and not yet charged does
  /// not extend it): after a payment or a void.
  static func endGraceIfSettled(_ mc: MutationContext, _ accountID: String) throws {
    let sub = try load(mc.writer, accountID)
    guard sub.graceEndsAtMs != 0, try mc.writer.invoiceCount(account: accountID, statuses: [.failed]) == 0 else { return }
    var newSub = sub
    newSub.graceEndsAtMs = 0
    _ = try save(mc, before: sub, after: newSub)
  }

  /// A plan change for the invoice of its period to prorate (closing and reopening are changes to and
  /// from `.unspecified`).
  static func planChange(at ms: Int64, from: Practice_V1_Plan, to: Practice_V1_Plan) -> Practice_V1_PlanChange {
    var change = Practice_V1_PlanChange()
    change.atMs = ms
    change.fromPlan = from
    change.toPlan = to
    return change
  }

  /// Writes a changed subscription with its audit and change events.
  static func save(_ mc: MutationContext, before: Practice_V1_Subscription, after: Practice_V1_Subscription) throws
    -> Practice_V1_Subscription
  {
    var s = after
    s.version = before.version + 1
    try mc.writer.putSubscription(s)
    try mc.record(account: s.accountID, .subscription, id: s.accountID, version: s.version, .updated, before: before, after: s)
    return s
  }

  func changePlan(_ req: Practice_V1_ChangePlanRequest, context ctx: CallContext) async throws -> Practice_V1_ChangePlanResponse {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the subscription")
      try Self.checkPlan(req.plan, subscription: current, writer: mc.writer, account: req.accountID)
      var updated = current
      updated.plan = req.plan
      updated.planChosen = true
      // Leaving the trial starts the billing periods: that day is the billing anniversary. A change
      // between paid plans is kept for its period's invoice, which prorates it.
      if current.billingAnchorMs == 0 && current.plan == .trial {
        updated.billingAnchorMs = mc.nowMs
      } else if current.plan != req.plan && current.plan != .trial {
        updated.planChanges.append(Self.planChange(at: mc.nowMs, from: current.plan, to: req.plan))
      }
      var resp = Practice_V1_ChangePlanResponse()
      let saved = updated == current ? current : try Self.save(mc, before: current, after: updated)
      resp.subscription = try Self.view(saved, account: mc.account!, nowMs: mc.nowMs, reader: mc.writer)
      return resp
    }
  }

  func setPaymentMethod(_ req: Practice_V1_SetPaymentMethodRequest, context ctx: CallContext) async throws
    -> Practice_V1_SetPaymentMethodResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID)
      var method = req.paymentMethod
      try BillingRules.validatePaymentMethod(&method, nowMs: mc.nowMs, timeZone: mc.account!.settings.timeZone)
      var updated = current
      updated.paymentMethod = method
      var resp = Practice_V1_SetPaymentMethodResponse()
      let saved = updated == current ? current : try Self.save(mc, before: current, after: updated)
      resp.subscription = try Self.view(saved, account: mc.account!, nowMs: mc.nowMs, reader: mc.writer)
      return resp
    }
  }

  func removePaymentMethod(_ req: Practice_V1_RemovePaymentMethodRequest, context ctx: CallContext) async throws
    -> Practice_V1_RemovePaymentMethodResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID)
      var resp = Practice_V1_RemovePaymentMethodResponse()
      guard current.paymentMethodPresence != nil else {
        resp.subscription = try Self.view(current, account: mc.account!, nowMs: mc.nowMs, reader: mc.writer)
        return resp
      }
      if current.plan == .freemium || current.plan == .professional {
        throw RPCError.failedPrecondition(
          .paymentMethodRequired, "\(BillingRules.planName(current.plan)) needs a payment method on file")
      }
      var updated = current
      updated.paymentMethodPresence = nil
      resp.subscription = try Self.view(try Self.save(mc, before: current, after: updated), account: mc.account!,
                                        nowMs: mc.nowMs, reader: mc.writer)
      return resp
    }
  }

  /// The period of `account` that starts on `date`, if any.
  static func periodStarting(
    _ date: String, account: Practice_V1_Account, subscription: Practice_V1_Subscription, nowMs: Int64
  ) -> Int? {
    let tz = account.settings.timeZone
    let from = Self.anchor(account, subscription)
    let last = BillingRules.periodIndex(createdAtMs: from, nowMs: nowMs, timeZone: tz)
    for k in stride(from: last, through: 0, by: -1) {
      let d = BillingRules.date(BillingRules.periodStart(createdAtMs: from, k: k, timeZone: tz), timeZone: tz)
      if d == date { return k }
      if d < date { return nil }
    }
    return nil
  }

  func reportUsage(_ req: Practice_V1_ReportUsageRequest, context ctx: CallContext) async throws
    -> Practice_V1_ReportUsageResponse
  {
    try requireID(req.accountID, "account_id")
    var v = Violations()
    if req.activeClients < 0 { v.add("active_clients", "must not be negative") }
    if req.electronicClaims < 0 { v.add("electronic_claims", "must not be negative") }
    try v.check()
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let account = mc.account!
      let sub = try Self.load(mc.writer, req.accountID)
      guard Self.periodStarting(req.periodStart, account: account, subscription: sub, nowMs: mc.nowMs) != nil else {
        throw RPCError.invalidArgument(field: "period_start", "is not the start (YYYY-MM-DD) of one of the account's billing periods")
      }
      if try mc.writer.invoice(account: req.accountID, periodStart: req.periodStart) != nil {
        throw RPCError.failedPrecondition(.periodClosed, "the period starting \(req.periodStart) is already invoiced")
      }
      let before = try mc.writer.usage(account: req.accountID, periodStart: req.periodStart)
      let clients = max(before?.activeClients ?? 0, req.activeClients)
      let claims = max(before?.electronicClaims ?? 0, req.electronicClaims)
      var resp = Practice_V1_ReportUsageResponse()
      resp.activeClients = clients
      resp.electronicClaims = claims
      if before == nil || before!.activeClients != clients || before!.electronicClaims != claims {
        try mc.writer.putUsage(account: req.accountID, periodStart: req.periodStart, activeClients: clients,
                               electronicClaims: claims)
        try mc.audit(account: req.accountID, .subscription, id: req.accountID,
                     note: "usage for \(req.periodStart): \(clients) active clients, \(claims) electronic claims")
        try mc.change(account: req.accountID, .usage, id: req.periodStart, version: 0, before == nil ? .created : .updated)
      }
      return resp
    }
  }

  func previewInvoice(_ req: Practice_V1_PreviewInvoiceRequest, context ctx: CallContext) async throws
    -> Practice_V1_PreviewInvoiceResponse
  {
    try requireID(req.accountID, "account_id")
    let now = try await env.clock.nowMs()
    let terms = env.terms
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard let account = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
      let sub = try Self.load(r, req.accountID)
      let k = BillingRules.periodIndex(
        createdAtMs: Self.anchor(account, sub), nowMs: now, timeZone: account.settings.timeZone)
      var resp = Practice_V1_PreviewInvoiceResponse()
      resp.invoice = try Scheduler.draft(account: account, subscription: sub, k: k, reader: r, terms: terms)
      return resp
    }
  }

  func listInvoices(_ req: Practice_V1_ListInvoicesRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListInvoicesResponse
  {
    try requireID(req.accountID, "account_id")
    let scope = "invoices:\(req.accountID)"
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let items = try r.invoices(account: req.accountID, beforeNumber: page.after.flatMap { Int64($0) }, limit: page.size + 1)
      let (invoices, next) = page.page(items, key: { String($0.number) }, scope: scope)
      var resp = Practice_V1_ListInvoicesResponse()
      resp.invoices = invoices
      resp.nextPageToken = next
      return resp
    }
  }

  func getInvoice(_ req: Practice_V1_GetInvoiceRequest, context ctx: CallContext) async throws -> Practice_V1_GetInvoiceResponse {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard let i = try r.invoice(account: req.accountID, id: req.invoiceID) else { throw RPCError.notFound("invoice \(req.invoiceID)") }
      var resp = Practice_V1_GetInvoiceResponse()
      resp.invoice = i
      return resp
    }
  }

  func recordPayment(_ req: Practice_V1_RecordPaymentRequest, context ctx: CallContext) async throws
    -> Practice_V1_RecordPaymentResponse
  {
    try requireID(req.accountID, "account_id")
    let graceMs = Int64(env.terms.graceDays) * BillingRules.dayMs
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let current = try mc.writer.invoice(account: req.accountID, id: req.invoiceID) else {
        throw RPCError.notFound("invoice \(req.invoiceID)")
      }
      var resp = Practice_V1_RecordPaymentResponse()
      let target: Practice_V1_InvoiceStatus = req.paid ? .paid : .failed
      if current.status == target && current.paymentReference == req.processorReference {
        resp.invoice = current
        return resp
      }
      guard current.status == .open || current.status == .failed else {
        throw RPCError.failedPrecondition(.invoiceSettled, "the invoice is \(current.status) and takes no payment")
      }
      var updated = current
      updated.status = target
      updated.paymentReference = req.processorReference
      updated.version += 1
      try mc.writer.putInvoice(updated)
      try mc.record(account: req.accountID, .invoice, id: updated.invoiceID, version: updated.version, .updated,
                    before: current, after: updated)
      // A failed payment starts the grace period; a paid one may end it.
      if req.paid {
        try Self.endGraceIfSettled(mc, req.accountID)
      } else {
        let sub = try Self.load(mc.writer, req.accountID)
        if sub.graceEndsAtMs == 0 {
          var newSub = sub
          newSub.graceEndsAtMs = mc.nowMs + graceMs
          _ = try Self.save(mc, before: sub, after: newSub)
        }
      }
      resp.invoice = updated
      return resp
    }
  }

  func voidInvoice(_ req: Practice_V1_VoidInvoiceRequest, context ctx: CallContext) async throws
    -> Practice_V1_VoidInvoiceResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.invoiceID, "invoice_id")
    let reason = req.reason.trimmingCharacters(in: .whitespacesAndNewlines)
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      if reason.isEmpty { throw RPCError.invalidArgument(field: "reason", "is required") }
      if reason.count > 500 { throw RPCError.invalidArgument(field: "reason", "must be at most 500 characters") }
      guard let current = try mc.writer.invoice(account: req.accountID, id: req.invoiceID) else {
        throw RPCError.notFound("invoice \(req.invoiceID)")
      }
      var resp = Practice_V1_VoidInvoiceResponse()
      if current.status == .void && current.voidReason == reason {
        resp.invoice = current
        return resp
      }
      guard current.status == .open || current.status == .failed else {
        throw RPCError.failedPrecondition(.invoiceSettled, "the invoice is \(current.status) and can't be voided")
      }
      var updated = current
      updated.status = .void
      updated.voidReason = reason
      updated.version += 1
      try mc.writer.putInvoice(updated)
      try mc.record(account: req.accountID, .invoice, id: updated.invoiceID, version: updated.version, .updated,
                    before: current, after: updated, note: "voided")
      try Self.endGraceIfSettled(mc, req.accountID)
      resp.invoice = updated
      return resp
    }
  }

  func setArchiveSubscription(_ req: Practice_V1_SetArchiveSubscriptionRequest, context ctx: CallContext) async throws
    -> Practice_V1_SetArchiveSubscriptionResponse
  {
    try requireID(req.accountID, "account_id")
    let retentionMs = Int64(env.terms.retentionDays) * BillingRules.dayMs
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID)
      var resp = Practice_V1_SetArchiveSubscriptionResponse()
      if current.archiveSubscription == req.active {
        resp.subscription = try Self.view(current, account: mc.account!, nowMs: mc.nowMs, reader: mc.writer)
        return resp
      }
      if req.active && current.paymentMethodPresence == nil {
        throw RPCError.failedPrecondition(.paymentMethodRequired, "the archive subscription needs a payment method on file")
      }
      var updated = current
      updated.archiveSubscription = req.active
      let saved = try Self.save(mc, before: current, after: updated)
      // On a closed account the archive holds the data; when it ends, retention starts again.
      if var account = mc.account, account.state == .closed {
        let before = account
        account.retentionEndsAtMs = req.active ? 0 : mc.nowMs + retentionMs
        try AccountService.saveAccount(mc, before: before, after: account)
      }
      resp.subscription = try Self.view(saved, account: try mc.writer.account(req.accountID)!, nowMs: mc.nowMs, reader: mc.writer)
      return resp
    }
  }

  func getTaxFormInfo(_ req: Practice_V1_GetTaxFormInfoRequest, context ctx: CallContext) async throws
    -> Practice_V1_GetTaxFormInfoResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard try r.account(req.accountID) != nil else { throw RPCError.notFound("account \(req.accountID)") }
      var resp = Practice_V1_GetTaxFormInfoResponse()
      resp.vendorIssues1099 = false
      resp.explanation = "We issue no 1099 forms. 1099-K forms come from your payment processor, and 1099-MISC or "
        + "1099-NEC forms from the payers (insurers) who paid you."
      return resp
    }
  }
}
