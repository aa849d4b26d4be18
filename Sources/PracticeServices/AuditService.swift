import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.AuditService: the append-only audit log, filtered and paged (oldest first).
struct AuditService: AuditServiceHandler {
  let env: ServiceEnvironment
  var reads: Reads { Reads(env: env) }


  func listAuditEvents(_ req: Practice_V1_ListAuditEventsRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListAuditEventsResponse
  {
    try requireID(req.accountID, "account_id")
    var v = Violations()
    if req.fromMs < 0 { v.add("from_ms", "must not be negative") }
    if req.toMs < 0 { v.add("to_ms", "must not be negative") }
    if req.toMs > 0 && req.fromMs > req.toMs { v.add("to_ms", "must not be before from_ms") }
    try v.check()
    let scope = "audit:\(req.accountID):\(req.fromMs):\(req.toMs):\(req.actorUserID):\(req.resourceID):\(req.method)"
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      guard try r.account(req.accountID) != nil else { throw RPCError.notFound("account \(req.accountID)") }
      var q = AuditQuery(accountID: req.accountID, limit: page.size + 1)
      q.fromMs = req.fromMs
      q.toMs = req.toMs
      q.actorUserID = req.actorUserID.isEmpty ? nil : req.actorUserID
      q.resourceID = req.resourceID.isEmpty ? nil : req.resourceID
      q.method = req.method.isEmpty ? nil : req.method
      q.afterID = page.after.flatMap { Int64($0) }
      let (events, next) = page.page(try r.auditEvents(q), key: { String($0.eventID) }, scope: scope)
      var resp = Practice_V1_ListAuditEventsResponse()
      resp.events = events
      resp.nextPageToken = next
      return resp
    }
  }
}
