import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.ClaimService: the provider block of a claim, and whether a payer would take it
/// (PRODUCT.md, "Claim profile"; the rules are `ClaimRules`).
struct ClaimService: ClaimServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }

  /// One snapshot: a read, or with the full tax id the write transaction that audits it (like
  /// GetBusinessInfo's full read). Either way every setting comes from the same moment.
  func resolveClaimProfile(_ req: Practice_V1_ResolveClaimProfileRequest, context ctx: CallContext) async throws
    -> Practice_V1_ResolveClaimProfileResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.locationID, "location_id")
    try requireID(req.renderingUserID, "rendering_user_id")
    if !req.fullTaxID {
      // The location is never cached: skip the cache-only pass.
      return try await reads.run(ctx, accountID: req.accountID, needsDatabase: true) { r, _ in
        try Self.profile(r, req, fullTaxID: false)
      }
    }
    return try await mutations.run(ctx, req, accountID: req.accountID, allowClosed: true) { mc in
      let resp = try Self.profile(mc.writer, req, fullTaxID: true)
      if !resp.billingProvider.taxID.isEmpty {
        try mc.audit(account: req.accountID, .businessInfo, id: req.accountID, note: "full tax id read (claim profile)")
      }
      return resp
    }
  }

  static func profile(
    _ r: any StoreReader, _ req: Practice_V1_ResolveClaimProfileRequest, fullTaxID: Bool
  ) throws -> Practice_V1_ResolveClaimProfileResponse {
    guard let account = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
    let business = try BusinessService.load(r, req.accountID)
    guard let location = try r.location(account: req.accountID, id: req.locationID) else {
      throw RPCError.notFound("location \(req.locationID)")
    }
    guard let rendering = try r.user(account: req.accountID, id: req.renderingUserID) else {
      throw RPCError.notFound("user \(req.renderingUserID)")
    }
    let rule = location.telehealth && !req.payerID.isEmpty
      ? try r.payerRule(account: req.accountID, payerID: req.payerID) : nil
    let settings = ClaimRules.Settings(account: account, business: business, location: location, rendering: rendering,
                                       payerRule: rule)
    let visit = ClaimRules.Visit(payerID: req.payerID, patientAtHome: req.patientAtHome, dateOfService: req.dateOfService)
    return try ClaimRules.profile(settings, visit: visit, fullTaxID: fullTaxID)
  }
}
