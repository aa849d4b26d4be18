import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.BusinessService: the practice's business information and the sender email.
struct BusinessService: BusinessServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }


  /// The business information of a new account: the practice name, version 1.
  static func initial(account: Practice_V1_Account, nowMs: Int64) -> Practice_V1_BusinessInfo {
    var b = Practice_V1_BusinessInfo()
    b.accountID = account.accountID
    b.practiceName = account.practiceName
    b.version = 1
    b.updatedAtMs = nowMs
    return b
  }

  /// What callers see: the tax id formatted, in full or masked to its last 4 digits.
  static func present(_ stored: Practice_V1_BusinessInfo, fullTaxID: Bool) -> Practice_V1_BusinessInfo {
    var b = stored
    guard !b.taxID.isEmpty else { return b }
    if fullTaxID {
      b.taxID = Identifiers.displayTaxID(stored.taxID, type: stored.taxIDType)
      b.taxIDMasked = false
    } else {
      b.taxID = Identifiers.maskTaxID(stored.taxID, type: stored.taxIDType)
      b.taxIDMasked = true
    }
    return b
  }

  static func load(_ r: any StoreReader, _ accountID: String) throws -> Practice_V1_BusinessInfo {
    guard let b = try r.businessInfo(account: accountID) else { throw RPCError.notFound("account \(accountID)") }
    return b
  }

  static func maskedResponse(_ r: any StoreReader, _ accountID: String) throws -> Practice_V1_GetBusinessInfoResponse {
    var resp = Practice_V1_GetBusinessInfoResponse()
    resp.businessInfo = present(try load(r, accountID), fullTaxID: false)
    return resp
  }

  /// The masked read, or the full tax id: administrators only, and audited (in a write transaction).
  /// The masked read never suspends, so it is answered on the connection's thread
  /// (`Services.makeDispatcher`); the full one continues as a task once it waits for its write.
  func getBusinessInfo(_ req: Practice_V1_GetBusinessInfoRequest, context ctx: CallContext) async throws
    -> Practice_V1_GetBusinessInfoResponse
  {
    try requireID(req.accountID, "account_id")
    if !req.fullTaxID {
      return try await reads.run(ctx, accountID: req.accountID) { r, _ in try Self.maskedResponse(r, req.accountID) }
    }
    return try await mutations.run(ctx, req, accountID: req.accountID, allowClosed: true) { mc in
      guard mc.actor.isAdministrator else {
        throw RPCError.permissionDenied(.roleRequired, "reading the full tax id needs OWNER or ADMINISTRATOR")
      }
      let stored = try Self.load(mc.writer, req.accountID)
      if !stored.taxID.isEmpty {
        try mc.audit(account: req.accountID, .businessInfo, id: req.accountID, note: "full tax id read")
      }
      var resp = Practice_V1_GetBusinessInfoResponse()
      resp.businessInfo = Self.present(stored, fullTaxID: true)
      return resp
    }
  }

  func updateBusinessInfo(_ req: Practice_V1_UpdateBusinessInfoRequest, context ctx: CallContext) async throws
    -> Practice_V1_UpdateBusinessInfoResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the business information")
      let mask = try UpdateMask(req.updateMask, allowed: BusinessRules.maskFields)
      var updated = try BusinessRules.apply(current, mask: mask, req.businessInfo)
      var resp = Practice_V1_UpdateBusinessInfoResponse()
      if updated == current {
        resp.businessInfo = Self.present(current, fullTaxID: false)
        return resp
      }
      updated.version = current.version + 1
      updated.updatedAtMs = mc.nowMs
      try mc.writer.putBusinessInfo(updated)
      try mc.record(account: req.accountID, .businessInfo, id: req.accountID, version: updated.version, .updated,
                    before: current, after: updated)
      // The account carries the practice name too (CloseAccount's confirmation reads it).
      if updated.practiceName != current.practiceName, var account = mc.account {
        let before = account
        account.practiceName = updated.practiceName
        try AccountService.saveAccount(mc, before: before, after: account)
      }
      resp.businessInfo = Self.present(updated, fullTaxID: false)
      return resp
    }
  }

  func resolveSenderEmail(_ req: Practice_V1_ResolveSenderEmailRequest, context ctx: CallContext) async throws
    -> Practice_V1_ResolveSenderEmailResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let info = try Self.load(r, req.accountID)
      var resp = Practice_V1_ResolveSenderEmailResponse()
      if !info.email.isEmpty {
        resp.email = info.email
        resp.source = .businessEmail
        return resp
      }
      // The initiator, the bill's creator, then the notes' practitioners in the order given.
      let notePractitioners = ([req.notePractitionerUserID] + req.notePractitionerUserIds).map {
        ($0, Practice_V1_SenderEmailSource.notePractitioner)
      }
      let candidates: [(String, Practice_V1_SenderEmailSource)] =
        [(req.initiatorUserID, .initiator), (req.billCreatorUserID, .billCreator)] + notePractitioners
      for (userID, source) in candidates where !userID.isEmpty {
        if let u = try r.user(account: req.accountID, id: userID), u.active, !u.email.isEmpty {
          resp.email = u.email
          resp.source = source
          resp.userID = u.userID
          return resp
        }
      }
      throw RPCError.failedPrecondition(
        .noSenderEmail, "no business email, and none of the given users is active with an email")
    }
  }
}
