import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.LocationService: service locations, Place of Service codes and payer POS rules.
struct LocationService: LocationServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }


  static func load(_ r: any StoreReader, _ account: String, _ id: String) throws -> Practice_V1_Location {
    guard let l = try r.location(account: account, id: id) else { throw RPCError.notFound("location \(id)") }
    return l
  }

  /// Writes a changed location: the next version, its audit event and change event.
  @discardableResult
  static func save(_ mc: MutationContext, before: Practice_V1_Location, after: Practice_V1_Location) throws -> Practice_V1_Location {
    var l = after
    l.version = before.version + 1
    l.updatedAtMs = mc.nowMs
    try mc.writer.putLocation(l)
    try mc.record(account: l.accountID, .location, id: l.locationID, version: l.version, .updated, before: before, after: l)
    return l
  }

  /// Makes `location` the default: the previous default stops being it (recorded as a change).
  private static func takeDefault(_ mc: MutationContext, from account: String, for locationID: String) throws {
    guard var previous = try mc.writer.defaultLocation(account: account), previous.locationID != locationID else { return }
    let before = previous
    previous.isDefault = false
    try save(mc, before: before, after: previous)
  }

  func createLocation(_ req: Practice_V1_CreateLocationRequest, context ctx: CallContext) async throws
    -> Practice_V1_CreateLocationResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      var l = req.location
      l.accountID = req.accountID
      l.locationID = IDs.make("loc")
      l.archived = false
      try LocationRules.validate(&l)
      // The first location becomes the default.
      let hasDefault = try mc.writer.defaultLocation(account: req.accountID) != nil
      if !hasDefault { l.isDefault = true }
      if l.isDefault && hasDefault { try Self.takeDefault(mc, from: req.accountID, for: l.locationID) }
      l.version = 1
      l.createdAtMs = mc.nowMs
      l.updatedAtMs = mc.nowMs
      try mc.writer.putLocation(l)
      try mc.record(account: req.accountID, .location, id: l.locationID, version: 1, .created, before: nil, after: l)
      var resp = Practice_V1_CreateLocationResponse()
      resp.location = l
      return resp
    }
  }

  func getLocation(_ req: Practice_V1_GetLocationRequest, context ctx: CallContext) async throws
    -> Practice_V1_GetLocationResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      var resp = Practice_V1_GetLocationResponse()
      resp.location = try Self.load(r, req.accountID, req.locationID)
      return resp
    }
  }

  func listLocations(_ req: Practice_V1_ListLocationsRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListLocationsResponse
  {
    try requireID(req.accountID, "account_id")
    let scope = "locations:\(req.accountID)" + (req.includeArchived ? "+archived" : "")
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let items = try r.locations(account: req.accountID, after: page.after, limit: page.size + 1,
                                  includeArchived: req.includeArchived)
      let (locations, next) = page.page(items, key: \.locationID, scope: scope)
      var resp = Practice_V1_ListLocationsResponse()
      resp.locations = locations
      resp.nextPageToken = next
      return resp
    }
  }

  func updateLocation(_ req: Practice_V1_UpdateLocationRequest, context ctx: CallContext) async throws
    -> Practice_V1_UpdateLocationResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.locationID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the location")
      let mask = try UpdateMask(req.updateMask, allowed: LocationRules.maskFields)
      var updated = LocationRules.apply(current, mask: mask, req.location)
      try LocationRules.validate(&updated)
      var resp = Practice_V1_UpdateLocationResponse()
      if updated == current {
        resp.location = current
        return resp
      }
      if current.archived {
        throw RPCError.failedPrecondition(.locationArchived, "an archived location can't be changed")
      }
      if current.isDefault && !updated.isDefault {
        throw RPCError.invalidArgument(
          field: "location.is_default", "the default location stays the default until another location is made default")
      }
      if updated.isDefault && !current.isDefault { try Self.takeDefault(mc, from: req.accountID, for: updated.locationID) }
      resp.location = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  func archiveLocation(_ req: Practice_V1_ArchiveLocationRequest, context ctx: CallContext) async throws
    -> Practice_V1_ArchiveLocationResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.locationID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the location")
      var resp = Practice_V1_ArchiveLocationResponse()
      if current.archived {
        resp.location = current
        return resp
      }
      if current.isDefault {
        throw RPCError.failedPrecondition(
          .defaultLocation, "the default location can't be archived: make another location the default first")
      }
      var updated = current
      updated.archived = true
      resp.location = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  /// Undoes ArchiveLocation: the same location, active again (not the default, unless the account has
  /// none).
  func unarchiveLocation(_ req: Practice_V1_UnarchiveLocationRequest, context ctx: CallContext) async throws
    -> Practice_V1_UnarchiveLocationResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.locationID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the location")
      var resp = Practice_V1_UnarchiveLocationResponse()
      guard current.archived else {
        resp.location = current
        return resp
      }
      var updated = current
      updated.archived = false
      updated.isDefault = try mc.writer.defaultLocation(account: req.accountID) == nil
      resp.location = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  func listPlaceOfServiceCodes(_ req: Practice_V1_ListPlaceOfServiceCodesRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListPlaceOfServiceCodesResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { _, _ in
      var resp = Practice_V1_ListPlaceOfServiceCodesResponse()
      resp.codes = PlaceOfService.all.filter { $0.active || req.includeUnassigned }.map(\.proto)
      return resp
    }
  }

  func setPayerPosRule(_ req: Practice_V1_SetPayerPosRuleRequest, context ctx: CallContext) async throws
    -> Practice_V1_SetPayerPosRuleResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      try LocationRules.validatePayerRule(req.rule)
      let current = try mc.writer.payerRule(account: req.accountID, payerID: req.rule.payerID)
      try checkVersion(req.expectedVersion, current: current?.version ?? 0, what: "the payer rule")
      var rule = req.rule
      rule.accountID = req.accountID
      rule.version = current?.version ?? 0
      rule.updatedAtMs = current?.updatedAtMs ?? 0
      var resp = Practice_V1_SetPayerPosRuleResponse()
      if let current, rule == current {
        resp.rule = current
        return resp
      }
      rule.version += 1
      rule.updatedAtMs = mc.nowMs
      try mc.writer.putPayerRule(rule)
      try mc.record(account: req.accountID, .payerPosRule, id: rule.payerID, version: rule.version,
                    current == nil ? .created : .updated, before: current, after: rule)
      resp.rule = rule
      return resp
    }
  }

  func listPayerPosRules(_ req: Practice_V1_ListPayerPosRulesRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListPayerPosRulesResponse
  {
    try requireID(req.accountID, "account_id")
    let scope = "payer-rules:\(req.accountID)"
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let items = try r.payerRules(account: req.accountID, after: page.after, limit: page.size + 1)
      let (rules, next) = page.page(items, key: \.payerID, scope: scope)
      var resp = Practice_V1_ListPayerPosRulesResponse()
      resp.rules = rules
      resp.nextPageToken = next
      return resp
    }
  }

  func deletePayerPosRule(_ req: Practice_V1_DeletePayerPosRuleRequest, context ctx: CallContext) async throws
    -> Practice_V1_DeletePayerPosRuleResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let current = try mc.writer.payerRule(account: req.accountID, payerID: req.payerID) else {
        throw RPCError.notFound("payer rule \(req.payerID)")
      }
      try checkVersion(req.expectedVersion, current: current.version, what: "the payer rule")
      try mc.writer.deletePayerRule(account: req.accountID, payerID: req.payerID)
      try mc.record(account: req.accountID, .payerPosRule, id: req.payerID, version: current.version + 1, .deleted,
                    before: current, after: nil)
      return Practice_V1_DeletePayerPosRuleResponse()
    }
  }

  func resolvePlaceOfService(_ req: Practice_V1_ResolvePlaceOfServiceRequest, context ctx: CallContext) async throws
    -> Practice_V1_ResolvePlaceOfServiceResponse
  {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let location = try Self.load(r, req.accountID, req.locationID)
      var rule: Practice_V1_PayerPosRule?
      if !req.payerID.isEmpty && location.telehealth {
        rule = try r.payerRule(account: req.accountID, payerID: req.payerID)
      }
      let (code, decidedBy) = try PlaceOfService.resolve(
        location: location, payerRule: rule, patientAtHome: req.patientAtHome, dateOfService: req.dateOfService)
      var resp = Practice_V1_ResolvePlaceOfServiceResponse()
      resp.posCode = code.code
      resp.decidedBy = decidedBy
      resp.payerID = rule?.payerID ?? ""
      resp.code = code.proto
      return resp
    }
  }
}
