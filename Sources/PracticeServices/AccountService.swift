import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// practice.v1.AccountService: accounts and their users.
struct AccountService: AccountServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }


  func createAccount(_ req: Practice_V1_CreateAccountRequest, context ctx: CallContext) async throws
    -> Practice_V1_CreateAccountResponse
  {
    try await mutations.run(ctx, req, accountID: nil) { mc in
      let settings = try AccountRules.validateCreate(req)
      var account = Practice_V1_Account()
      account.accountID = IDs.make("acct")
      account.practiceName = req.practiceName
      account.state = .active
      account.settings = settings
      account.version = 1
      account.createdAtMs = mc.nowMs
      account.updatedAtMs = mc.nowMs

      var owner = Practice_V1_User()
      owner.userID = IDs.make("user")
      owner.accountID = account.accountID
      owner.name = req.ownerName
      owner.email = req.ownerEmail
      owner.roles = AccountRules.ownerRoles(req.ownerRoles)
      owner.active = true
      owner.version = 1
      owner.createdAtMs = mc.nowMs
      owner.updatedAtMs = mc.nowMs
      account.ownerUserID = owner.userID

      try mc.writer.insertAccount(account)
      try mc.writer.insertUser(owner)
      let business = BusinessService.initial(account: account, nowMs: mc.nowMs)
      try mc.writer.putBusinessInfo(business)
      let subscription = BillingService.initial(account: account, terms: env.terms)
      try mc.writer.putSubscription(subscription)
      try mc.record(account: account.accountID, .account, id: account.accountID, version: 1, .created, before: nil, after: account)
      try mc.record(account: account.accountID, .user, id: owner.userID, version: 1, .created, before: nil, after: owner)
      try mc.record(account: account.accountID, .businessInfo, id: account.accountID, version: 1, .created,
                    before: nil, after: business)
      try mc.record(account: account.accountID, .subscription, id: account.accountID, version: 1, .created,
                    before: nil, after: subscription)

      var resp = Practice_V1_CreateAccountResponse()
      resp.account = try mc.writer.account(account.accountID) ?? account
      resp.owner = owner
      return resp
    }
  }

  func getAccount(_ req: Practice_V1_GetAccountRequest, context ctx: CallContext) async throws
    -> Practice_V1_GetAccountResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard let a = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
      var resp = Practice_V1_GetAccountResponse()
      resp.account = a
      resp.lifecycle = BillingService.lifecycle(a, try r.subscription(account: req.accountID))
      return resp
    }
  }

  func listAccounts(_ req: Practice_V1_ListAccountsRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListAccountsResponse
  {
    let scope = "accounts" + (req.includeClosed ? "+closed" : "")
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: nil) { r, _ in
      let items = try r.accounts(after: page.after, limit: page.size + 1, includeClosed: req.includeClosed)
      let (accounts, next) = page.page(items, key: \.accountID, scope: scope)
      var resp = Practice_V1_ListAccountsResponse()
      resp.accounts = accounts
      resp.nextPageToken = next
      return resp
    }
  }

  func updateAccountSettings(_ req: Practice_V1_UpdateAccountSettingsRequest, context ctx: CallContext)
    async throws -> Practice_V1_UpdateAccountSettingsResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      var account = mc.account!
      try checkVersion(req.expectedVersion, current: account.version, what: "the account")
      let mask = try UpdateMask(req.updateMask, allowed: AccountRules.settingsMaskFields)
      let settings = try AccountRules.applySettings(account.settings, mask: mask, req.settings)
      var resp = Practice_V1_UpdateAccountSettingsResponse()
      if settings == account.settings {
        resp.account = account
        return resp
      }
      let before = account
      account.settings = settings
      try Self.saveAccount(mc, before: before, after: account)
      resp.account = try mc.writer.account(account.accountID) ?? account
      return resp
    }
  }

  func addUser(_ req: Practice_V1_AddUserRequest, context ctx: CallContext) async throws
    -> Practice_V1_AddUserResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      try AccountRules.validateNewUser(req)
      if !req.email.isEmpty, try mc.writer.activeUser(account: req.accountID, email: req.email) != nil {
        throw RPCError(.alreadyExists, .alreadyExists, "an active user of the account has this email",
                       violations: [FieldViolation(field: "email", description: "already used by an active user")])
      }
      if req.roles.contains(.practitioner) { try Self.checkPractitionerLimit(mc, adding: 1) }
      var user = Practice_V1_User()
      user.userID = IDs.make("user")
      user.accountID = req.accountID
      user.name = req.name
      user.email = req.email
      user.roles = RoleSet(req.roles).sorted
      user.npi = req.npi
      user.taxonomyCode = req.taxonomyCode
      user.active = true
      user.version = 1
      user.createdAtMs = mc.nowMs
      user.updatedAtMs = mc.nowMs
      try mc.writer.insertUser(user)
      try mc.record(account: req.accountID, .user, id: user.userID, version: 1, .created, before: nil, after: user)
      var resp = Practice_V1_AddUserResponse()
      resp.user = user
      return resp
    }
  }

  func updateUser(_ req: Practice_V1_UpdateUserRequest, context ctx: CallContext) async throws
    -> Practice_V1_UpdateUserResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.userID, "user_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let current = try mc.writer.user(account: req.accountID, id: req.userID) else {
        throw RPCError.notFound("user \(req.userID)")
      }
      try checkVersion(req.expectedVersion, current: current.version, what: "the user")
      let mask = try UpdateMask(req.updateMask, allowed: AccountRules.userMaskFields)
      let updated = try AccountRules.applyUserUpdate(current, mask: mask, req.user)
      var resp = Practice_V1_UpdateUserResponse()
      if updated == current {
        resp.user = current
        return resp
      }
      if updated.active, !updated.email.isEmpty, updated.email.lowercased() != current.email.lowercased(),
        try mc.writer.activeUser(account: req.accountID, email: updated.email) != nil
      {
        throw RPCError(.alreadyExists, .alreadyExists, "an active user of the account has this email",
                       violations: [FieldViolation(field: "user.email", description: "already used by an active user")])
      }
      if updated.active && updated.roleSet.contains(.practitioner) && !current.roleSet.contains(.practitioner) {
        try Self.checkPractitionerLimit(mc, adding: 1)
      }
      resp.user = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  /// Writes a changed user: the next version, its audit event and change event.
  static func save(_ mc: MutationContext, before: Practice_V1_User, after: Practice_V1_User) throws -> Practice_V1_User {
    var u = after
    u.version = before.version + 1
    u.updatedAtMs = mc.nowMs
    try mc.writer.updateUser(u)
    try mc.record(account: u.accountID, .user, id: u.userID, version: u.version, .updated, before: before, after: u)
    return u
  }

  /// Writes a changed account row: the next version, its audit event and change event.
  static func saveAccount(_ mc: MutationContext, before: Practice_V1_Account, after: Practice_V1_Account, note: String = "") throws {
    var a = after
    a.version = before.version + 1
    a.updatedAtMs = mc.nowMs
    try mc.writer.updateAccount(a)
    try mc.record(account: a.accountID, .account, id: a.accountID, version: a.version, .updated, before: before, after: a,
                  note: note)
  }

  /// FREEMIUM allows one active practitioner (PLAN_LIMIT).
  static func checkPractitionerLimit(_ mc: MutationContext, adding: Int) throws {
    guard let account = mc.account, try mc.writer.subscription(account: account.accountID)?.plan == .freemium else { return }
    let users = try mc.writer.users(account: account.accountID, after: nil, limit: Int.max, includeInactive: false)
    if AccountRules.activePractitioners(users) + adding > 1 {
      throw RPCError.failedPrecondition(.planLimit, "FREEMIUM allows one active practitioner")
    }
  }

  func deactivateUser(_ req: Practice_V1_DeactivateUserRequest, context ctx: CallContext) async throws
    -> Practice_V1_DeactivateUserResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.userID, "user_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let current = try mc.writer.user(account: req.accountID, id: req.userID) else {
        throw RPCError.notFound("user \(req.userID)")
      }
      try checkVersion(req.expectedVersion, current: current.version, what: "the user")
      if current.roleSet.isOwner {
        throw RPCError.failedPrecondition(.ownerRule, "the owner cannot be deactivated; transfer ownership first")
      }
      var resp = Practice_V1_DeactivateUserResponse()
      guard current.active else {
        resp.user = current
        return resp
      }
      var updated = current
      updated.active = false
      resp.user = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  /// Undoes DeactivateUser: the same user, active again, under the limits of adding one (the plan's
  /// practitioners, an email unique among active users).
  func reactivateUser(_ req: Practice_V1_ReactivateUserRequest, context ctx: CallContext) async throws
    -> Practice_V1_ReactivateUserResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.userID, "user_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let current = try mc.writer.user(account: req.accountID, id: req.userID) else {
        throw RPCError.notFound("user \(req.userID)")
      }
      try checkVersion(req.expectedVersion, current: current.version, what: "the user")
      var resp = Practice_V1_ReactivateUserResponse()
      guard !current.active else {
        resp.user = current
        return resp
      }
      if !current.email.isEmpty, try mc.writer.activeUser(account: req.accountID, email: current.email) != nil {
        throw RPCError(.alreadyExists, .alreadyExists, "an active user of the account has this email",
                       violations: [FieldViolation(field: "user.email", description: "already used by an active user")])
      }
      if current.roleSet.contains(.practitioner) { try Self.checkPractitionerLimit(mc, adding: 1) }
      var updated = current
      updated.active = true
      resp.user = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  func listUsers(_ req: Practice_V1_ListUsersRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListUsersResponse
  {
    try requireID(req.accountID, "account_id")
    let scope = "users:\(req.accountID)" + (req.includeInactive ? "+inactive" : "")
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard try r.account(req.accountID) != nil else { throw RPCError.notFound("account \(req.accountID)") }
      let items = try r.users(account: req.accountID, after: page.after, limit: page.size + 1,
                              includeInactive: req.includeInactive)
      let (users, next) = page.page(items, key: \.userID, scope: scope)
      var resp = Practice_V1_ListUsersResponse()
      resp.users = users
      resp.nextPageToken = next
      return resp
    }
  }

  func transferOwnership(_ req: Practice_V1_TransferOwnershipRequest, context ctx: CallContext) async throws
    -> Practice_V1_TransferOwnershipResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.newOwnerUserID, "new_owner_user_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      var account = mc.account!
      try checkVersion(req.expectedVersion, current: account.version, what: "the account")
      guard let newOwner = try mc.writer.user(account: req.accountID, id: req.newOwnerUserID), newOwner.active else {
        throw RPCError.invalidArgument(field: "new_owner_user_id", "must be an active user of the account")
      }
      guard let oldOwner = try mc.writer.user(account: req.accountID, id: account.ownerUserID) else {
        throw RPCError.internal("the account has no owner row")
      }
      var resp = Practice_V1_TransferOwnershipResponse()
      if newOwner.userID == oldOwner.userID {
        resp.account = account
        resp.previousOwner = oldOwner
        resp.newOwner = newOwner
        return resp
      }
      // The old owner keeps ADMINISTRATOR; the new one gains OWNER.
      var old = oldOwner
      old.roles = RoleSet(oldOwner.roles.filter { $0 != .owner } + [.administrator]).sorted
      var new = newOwner
      new.roles = RoleSet(newOwner.roles + [.owner]).sorted
      let accountBefore = account
      account.ownerUserID = new.userID
      resp.previousOwner = try Self.save(mc, before: oldOwner, after: old)
      resp.newOwner = try Self.save(mc, before: newOwner, after: new)
      try Self.saveAccount(mc, before: accountBefore, after: account)
      resp.account = try mc.writer.account(req.accountID) ?? account
      return resp
    }
  }

  func closeAccount(_ req: Practice_V1_CloseAccountRequest, context ctx: CallContext) async throws
    -> Practice_V1_CloseAccountResponse
  {
    try requireID(req.accountID, "account_id")
    let terms = env.terms
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let account = mc.account!
      // Both sides trimmed, both in NFC (PRODUCT.md): a stored name with surrounding spaces can be typed.
      func normalized(_ s: String) -> String {
        s.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
      }
      guard normalized(req.confirmPracticeName).unicodeScalars.elementsEqual(normalized(account.practiceName).unicodeScalars)
      else {
        throw RPCError.failedPrecondition(.confirmationMismatch, "type the practice name exactly to close the account")
      }
      try Closing.close(mc, account, reason: .ownerRequest, terms: terms)
      var resp = Practice_V1_CloseAccountResponse()
      resp.account = try mc.writer.account(req.accountID)!
      return resp
    }
  }

  func reopenAccount(_ req: Practice_V1_ReopenAccountRequest, context ctx: CallContext) async throws
    -> Practice_V1_ReopenAccountResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let account = mc.account!
      var resp = Practice_V1_ReopenAccountResponse()
      switch account.state {
      case .active:
        resp.account = account
        return resp
      case .purged:
        throw RPCError.failedPrecondition(.retentionOver, "the account was purged")
      default: break
      }
      if account.retentionEndsAtMs != 0 && mc.nowMs >= account.retentionEndsAtMs {
        throw RPCError.failedPrecondition(.retentionOver, "the retention period is over")
      }
      let sub = try BillingService.load(mc.writer, req.accountID)
      // An account its owner closed during its trial reopens on TRIAL with the same trial end; once that
      // end has passed, it reopens as after trial expiry.
      let onTrial = sub.plan == .trial && !sub.planChosen
      let stillOnTrial = onTrial && account.closeReason == .ownerRequest && mc.nowMs < sub.trialEndsAtMs
      if account.closeReason == .trialExpired || account.closeReason == .nonPayment || (onTrial && !stillOnTrial) {
        if sub.paymentMethodPresence == nil {
          throw RPCError.failedPrecondition(.paymentMethodRequired, "reopening needs a payment method on file")
        }
        if try mc.writer.invoiceCount(account: req.accountID, statuses: [.open, .failed]) > 0 {
          throw RPCError.failedPrecondition(.unpaidInvoice, "reopening needs every invoice paid")
        }
      }
      var a = account
      a.state = .active
      a.closedAtMs = 0
      a.closeReason = .unspecified
      a.retentionEndsAtMs = 0
      try Self.saveAccount(mc, before: account, after: a, note: "reopened")
      // A trial that ended without a plan reopens on a paid plan: FREEMIUM for one practitioner, else PROFESSIONAL.
      var newSub = sub
      newSub.graceEndsAtMs = 0
      if sub.plan == .trial && !stillOnTrial {
        let users = try mc.writer.users(account: a.accountID, after: nil, limit: Int.max, includeInactive: false)
        newSub.plan = AccountRules.activePractitioners(users) > 1 ? .professional : .freemium
        newSub.planChosen = true
        if newSub.billingAnchorMs == 0 { newSub.billingAnchorMs = mc.nowMs }  // billing starts on reopening
      }
      // Charging starts again from the reopening day.
      if BillingService.billed(newSub) && newSub.plan != .trial {
        newSub.planChanges.append(BillingService.planChange(at: mc.nowMs, from: .unspecified, to: newSub.plan))
      }
      if newSub != sub { _ = try BillingService.save(mc, before: sub, after: newSub) }
      resp.account = try mc.writer.account(req.accountID)!
      return resp
    }
  }

  func exportAccount(
    _ req: Practice_V1_ExportAccountRequest, writer out: ServerStreamWriter<Practice_V1_ExportAccountChunk>, context ctx: CallContext
  ) async throws {
    try requireID(req.accountID, "account_id")
    let limit = env.exportChunkBytes
    // The export holds the full tax id: it is audited, like a full-tax-id read, before anything is sent.
    _ = try await mutations.run(ctx, req, accountID: req.accountID, allowClosed: true) { mc -> Google_Protobuf_Empty in
      guard let account = mc.account, account.state != .purged else { throw RPCError.notFound("account \(req.accountID)") }
      try mc.audit(account: req.accountID, .account, id: req.accountID, note: "exported, the full tax id included")
      return Google_Protobuf_Empty()
    }
    // One read snapshot for the whole export, streamed: at most two chunks wait for the client.
    try await env.store.readEach(window: 2, { r, emit in
      _ = try Authorization.authorize(ctx, accountID: req.accountID, reader: r)
      guard let account = try r.account(req.accountID), account.state != .purged else {
        throw RPCError.notFound("account \(req.accountID)")
      }
      try Export.stream(r, account: account, limit: limit, emit: emit)
    }, consume: { chunk in try await out.send(chunk) })
  }
}

/// A required identifier field.
func requireID(_ value: String, _ field: String) throws {
  if value.isEmpty { throw RPCError.invalidArgument(field: field, "is required") }
  if value.utf8.count > 128 { throw RPCError.invalidArgument(field: field, "is too long") }
}
