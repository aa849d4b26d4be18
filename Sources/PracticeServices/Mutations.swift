import CoreMetrics
import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// What a mutation's body works with: the transaction, the authorized actor, the loaded account,
/// the time, and the changes it records (each becomes an audit event and a change event).
public final class MutationContext {
  public let writer: any StoreWriter
  public let actor: Actor
  public let nowMs: Int64
  /// The account the request names (nil for CreateAccount).
  public let account: Practice_V1_Account?
  let origin: Origin
  let changeRetention: Int64
  /// The instance whose audit events these are.
  let instanceID: String
  var changes: [Practice_V1_ChangeEvent] = []

  init(writer: any StoreWriter, actor: Actor, nowMs: Int64, account: Practice_V1_Account?, origin: Origin,
       env: ServiceEnvironment) {
    self.writer = writer
    self.actor = actor
    self.nowMs = nowMs
    self.account = account
    self.origin = origin
    self.changeRetention = env.changeRetention
    self.instanceID = env.instanceID
  }

  /// Where a change comes from, as its audit events record it: a call (the peer, the method, the
  /// request id), or the daemon's own scheduled work (the daemon, the job).
  struct Origin: Sendable {
    let peer: Peer
    /// The method's path, or the job's (`/practice.daemon.Scheduler/IssueInvoice`).
    let what: String
    let requestID: String?

    init(call: CallContext) {
      peer = call.peer
      what = call.method.path
      requestID = call.requestID
    }

    /// The daemon's scheduled job `name`.
    static func scheduler(_ name: String) -> Origin { Origin(peer: .daemon, what: "/practice.daemon.Scheduler/\(name)") }

    private init(peer: Peer, what: String) {
      self.peer = peer
      self.what = what
      requestID = nil
    }
  }

  /// Appends an audit event that records no change (a full tax id read, say).
  public func audit(account accountID: String, _ kind: Practice_V1_ResourceKind, id: String, note: String) throws {
    try writer.appendAudit(auditEvent(account: accountID, kind, id: id, note: note), before: nil, after: nil)
  }

  /// How an audit event keeps a resource, secrets masked: in binary, rendered as JSON when the log is
  /// read; a type AuditSnapshot does not know, as JSON at once.
  private static func recorded(_ message: (any SwiftProtobuf.Message)?) -> (AuditSnapshot?, String) {
    guard let masked = message.map(Secrets.redacted) else { return (nil, "") }
    if let snapshot = AuditSnapshot(masked) { return (snapshot, "") }
    return (nil, AuditSnapshot.json(masked))
  }

  /// An audit event without its resource's before and after (`appendAudit` takes those).
  private func auditEvent(account accountID: String, _ kind: Practice_V1_ResourceKind, id: String, note: String)
    -> Practice_V1_AuditEvent
  {
    var audit = Practice_V1_AuditEvent()
    audit.timeMs = nowMs
    audit.accountID = accountID
    audit.actorUserID = actor.userID
    audit.actorPeer = origin.peer.peerClass.rawValue
    audit.peerUid = origin.peer.credentials.uid
    audit.peerPid = origin.peer.credentials.pid
    audit.instanceID = instanceID
    audit.method = origin.what
    audit.resourceKind = kind
    audit.resourceID = id
    audit.requestID = origin.requestID ?? ""
    audit.note = note
    return audit
  }

  /// Records one changed resource: an audit event with its before and after (secrets masked) and
  /// a change event with the account's next change sequence, in the mutation's transaction.
  /// A body that records nothing changed nothing: no audit, no change event.
  public func record(
    account accountID: String, _ kind: Practice_V1_ResourceKind, id: String, version: Int64,
    _ change: Practice_V1_ChangeType, before: (any SwiftProtobuf.Message)?, after: (any SwiftProtobuf.Message)?,
    note: String = ""
  ) throws {
    var audit = auditEvent(account: accountID, kind, id: id, note: note)
    let (beforeSnapshot, beforeJSON) = Self.recorded(before)
    let (afterSnapshot, afterJSON) = Self.recorded(after)
    audit.beforeJson = beforeJSON
    audit.afterJson = afterJSON
    try writer.appendAudit(audit, before: beforeSnapshot, after: afterSnapshot)
    try self.change(account: accountID, kind, id: id, version: version, change)
  }

  /// A change event with the account's next change sequence, for a change whose audit event is
  /// written apart (`audit`): every committed change moves the sequence.
  public func change(
    account accountID: String, _ kind: Practice_V1_ResourceKind, id: String, version: Int64,
    _ change: Practice_V1_ChangeType, notice: Practice_V1_LifecycleNotice? = nil
  ) throws {
    var event = Practice_V1_ChangeEvent()
    if let notice { event.notice = notice }
    event.accountID = accountID
    event.kind = kind
    event.resourceID = id
    event.version = version
    event.changeType = change
    event.sequence = try writer.nextChangeSequence(account: accountID)
    event.timeMs = nowMs
    try writer.appendChange(event)
    // Trim now and then: every tenth of the retention, at most every 1000 changes.
    let trimEvery = max(1, min(1000, changeRetention / 10))
    if event.sequence > changeRetention && event.sequence % trimEvery == 0 {
      try writer.trimChanges(account: accountID, keep: changeRetention)
    }
    changes.append(event)
  }
}

/// The one mutation path (PRODUCT.md, "Across the board"):
/// authorize → load → `expected_version` → `update_mask` → validate → no-op check → row, audit events,
/// change events and idempotency record in one transaction → durable commit → change events
/// published → reply. The body does load → ... → row; this runs the rest around it.
public struct Mutations: Sendable {
  let env: ServiceEnvironment
  public init(env: ServiceEnvironment) { self.env = env }

  static let recordable: Set<StatusCode> = [.ok, .invalidArgument, .failedPrecondition, .permissionDenied]

  /// Runs a mutation of the account `accountID` (nil for CreateAccount).
  public func run<Req: SwiftProtobuf.Message, Resp: SwiftProtobuf.Message>(
    _ ctx: CallContext, _ request: Req, accountID: String?, allowClosed: Bool = false,
    _ body: @escaping @Sendable (MutationContext) throws -> Resp
  ) async throws -> Resp {
    let scope = accountID ?? "uid:\(ctx.peer.credentials.uid)"
    let key = ctx.idempotencyKey
    if let key {
      guard key.utf8.count <= 256 else {
        throw RPCError.invalidArgument(field: "metadata.idempotency-key", "must be at most 256 bytes")
      }
      guard env.keysInFlight.claim(scope + "\u{1}" + key) else {
        throw RPCError(.aborted, .idempotencyInProgress, "a call with this idempotency key is still running")
      }
    }
    defer { if let key { env.keysInFlight.release(scope + "\u{1}" + key) } }

    // The request as it arrived identifies a retry; only calls with a key need it. (A mutation run
    // outside a call's route, such as a read that audits, records its re-encoding.)
    let requestBytes = key == nil ? Data() : (ctx.requestBytes.isEmpty ? try request.serializedData() : ctx.requestBytes)
    let path = ctx.method.path
    let nowMs = try await env.clock.nowMs()
    let changes = env.changes

    // The response is built once, as a message: encoded only for an idempotency record, and a
    // replay decodes its recorded response once.
    let outcome: Result<Resp, RPCError>
    do {
      outcome = try await env.store.write { w -> Result<Resp, RPCError> in
        try ctx.control.beginCommit()
        // Before anything is read: the key across instances, then the account's lock.
        if let key, !(try w.claimIdempotencyKey(scope: scope, key: key)) {
          throw RPCError(.aborted, .idempotencyInProgress, "a call with this idempotency key is still running")
        }
        if let accountID { try w.lockAccount(accountID) }
        if let key, let recorded = try w.idempotency(scope: scope, key: key) {
          // A record from before the schema's v5 has no request to compare: its method decides.
          guard recorded.method == path, recorded.request.map({ $0 == requestBytes }) ?? true else {
            return .failure(.failedPrecondition(
              .idempotencyKeyReused, "the idempotency key was used with another request"))
          }
          return try Mutations.decodeRecorded(recorded.response).flatMap { payload in
            Result { try Resp(serializedBytes: payload) }.mapError { _ in .internal("a recorded response does not decode") }
          }
        }
        var published: [Practice_V1_ChangeEvent] = []
        let result: Result<Resp, RPCError>
        do {
          result = .success(try w.savepoint {
            let actor = try Authorization.authorize(ctx, accountID: accountID, reader: w)
            var account: Practice_V1_Account?
            if let accountID {
              guard let a = try w.account(accountID) else { throw RPCError.notFound("account \(accountID)") }
              if a.state != .active && !allowClosed && !AccessPolicy.allowedWhenClosed.contains(path) {
                throw RPCError.failedPrecondition(.accountClosed, "the account is closed")
              }
              account = a
            }
            let mc = MutationContext(
              writer: w, actor: actor, nowMs: nowMs, account: account, origin: MutationContext.Origin(call: ctx),
              env: env)
            let response = try body(mc)
            published = mc.changes
            return response
          })
        } catch let e as RPCError {
          result = .failure(e)
        } catch let e as DomainError {
          result = .failure(e.rpcError)
        }
        if case .failure(let e) = result, !Mutations.recordable.contains(e.code) { throw e }
        if let key {
          let recorded: Result<Data, RPCError>
          switch result {
          case .success(let response): recorded = .success(try response.serializedData())
          case .failure(let e): recorded = .failure(e)
          }
          try w.putIdempotency(IdempotencyRecord(
            scope: scope, key: key, method: path, request: requestBytes,
            response: try Mutations.encodeRecorded(recorded), createdAtMs: nowMs))
        }
        let toPublish = published
        if !toPublish.isEmpty { w.afterCommit { changes.publish(toPublish) } }
        return result
      }
      env.health.writeSucceeded()
    } catch let e as StoreError {
      let status = e.rpcError
      if e.kind == .full || e.kind == .unavailable {
        env.health.writeFailed()
        Counter(label: "practiced_store_errors_total", dimensions: [("reason", status.reason.rawValue)]).increment()
      }
      throw status
    }
    return try outcome.get()
  }

  static func encodeRecorded(_ result: Result<Data, RPCError>) throws -> Data {
    var r = Practice_Rpc_V1_Response()
    switch result {
    case .success(let payload):
      r.status = .ok
      r.payload = payload
    case .failure(let e):
      r.status = e.status
    }
    return try r.serializedData()
  }

  static func decodeRecorded(_ data: Data) throws -> Result<Data, RPCError> {
    let r = try Practice_Rpc_V1_Response(serializedBytes: data)
    if let e = RPCError(status: r.status) { return .failure(e) }
    return .success(r.payload)
  }
}

/// Reads: authorize in the same snapshot as the read.
public struct Reads: Sendable {
  let env: ServiceEnvironment

  /// Runs `body` with the authorized actor, in the snapshot the actor was authorized in. The body
  /// may run twice (the read cache first, then the store): keep it pure. `needsDatabase`: the body
  /// always reads past the cache (an index search), so the cache-only pass is skipped.
  public func run<T>(
    _ ctx: CallContext, accountID: String?, needsDatabase: Bool = false,
    _ body: @escaping (any StoreReader, Actor) throws -> T
  ) async throws -> T {
    try await env.store.read(needsDatabase: needsDatabase) { r in
      let actor = try Authorization.authorize(ctx, accountID: accountID, reader: r)
      return try body(r, actor)
    }
  }
}

/// `expected_version`: 0 is unconditional; otherwise it must equal the current version.
func checkVersion(_ expected: Int64, current: Int64, what: String) throws {
  if expected != 0 && expected != current {
    throw RPCError(.aborted, .versionMismatch, "\(what) is at version \(current), not \(expected)")
  }
}
