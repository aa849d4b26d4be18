import PracticeDomain
import PracticeProto
import PracticeRPC
import PracticeStore
import PracticeWire

/// practice.v1.AccountService: accounts and their users.
struct AccountService {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }

  static let prefix = "/practice.v1.AccountService/"

  func register(into router: inout Router) {
    router.unary(Self.prefix + "CreateAccount", mutation: true, createAccount)
    router.unary(Self.prefix + "GetAccount", mutation: false, getAccount)
    router.unary(Self.prefix + "ListAccounts", mutation: false, listAccounts)
    router.unary(Self.prefix + "UpdateAccountSettings", mutation: true, updateAccountSettings)
    router.unary(Self.prefix + "AddUser", mutation: true, addUser)
    router.unary(Self.prefix + "UpdateUser", mutation: true, updateUser)
    router.unary(Self.prefix + "DeactivateUser", mutation: true, deactivateUser)
    router.unary(Self.prefix + "ListUsers", mutation: false, listUsers)
  }

  @Sendable func createAccount(_ ctx: CallContext, _ req: Practice_V1_CreateAccountRequest) async throws
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
      try mc.record(account: account.accountID, .account, id: account.accountID, version: 1, .created, before: nil, after: account)
      try mc.record(account: account.accountID, .user, id: owner.userID, version: 1, .created, before: nil, after: owner)
      try mc.record(account: account.accountID, .businessInfo, id: account.accountID, version: 1, .created,
                    before: nil, after: business)

      var resp = Practice_V1_CreateAccountResponse()
      resp.account = try mc.writer.account(account.accountID) ?? account
      resp.owner = owner
      return resp
    }
  }

  @Sendable func getAccount(_ ctx: CallContext, _ req: Practice_V1_GetAccountRequest) async throws
    -> Practice_V1_GetAccountResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard let a = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
      var resp = Practice_V1_GetAccountResponse()
      resp.account = a
      return resp
    }
  }

  @Sendable func listAccounts(_ ctx: CallContext, _ req: Practice_V1_ListAccountsRequest) async throws
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

  @Sendable func updateAccountSettings(_ ctx: CallContext, _ req: Practice_V1_UpdateAccountSettingsRequest)
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
      account.version += 1
      account.updatedAtMs = mc.nowMs
      try mc.writer.updateAccount(account)
      try mc.record(account: account.accountID, .account, id: account.accountID, version: account.version, .updated,
                before: before, after: account)
      resp.account = try mc.writer.account(account.accountID) ?? account
      return resp
    }
  }

  @Sendable func addUser(_ ctx: CallContext, _ req: Practice_V1_AddUserRequest) async throws
    -> Practice_V1_AddUserResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      try AccountRules.validateNewUser(name: req.name, email: req.email, roles: req.roles)
      if !req.email.isEmpty, try mc.writer.activeUser(account: req.accountID, email: req.email) != nil {
        throw RPCError(.alreadyExists, .alreadyExists, "an active user of the account has this email",
                       violations: [FieldViolation(field: "email", description: "already used by an active user")])
      }
      var user = Practice_V1_User()
      user.userID = IDs.make("user")
      user.accountID = req.accountID
      user.name = req.name
      user.email = req.email
      user.roles = RoleSet(req.roles).sorted
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

  @Sendable func updateUser(_ ctx: CallContext, _ req: Practice_V1_UpdateUserRequest) async throws
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
      var updated = try AccountRules.applyUserUpdate(current, mask: mask, req.user)
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
      updated.version += 1
      updated.updatedAtMs = mc.nowMs
      try mc.writer.updateUser(updated)
      try mc.record(account: req.accountID, .user, id: updated.userID, version: updated.version, .updated,
                before: current, after: updated)
      resp.user = updated
      return resp
    }
  }

  @Sendable func deactivateUser(_ ctx: CallContext, _ req: Practice_V1_DeactivateUserRequest) async throws
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
      updated.version += 1
      updated.updatedAtMs = mc.nowMs
      try mc.writer.updateUser(updated)
      try mc.record(account: req.accountID, .user, id: updated.userID, version: updated.version, .updated,
                before: current, after: updated)
      resp.user = updated
      return resp
    }
  }

  @Sendable func listUsers(_ ctx: CallContext, _ req: Practice_V1_ListUsersRequest) async throws
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
}

/// A required identifier field.
func requireID(_ value: String, _ field: String) throws {
  if value.isEmpty { throw RPCError.invalidArgument(field: field, "is required") }
  if value.utf8.count > 128 { throw RPCError.invalidArgument(field: field, "is too long") }
}
