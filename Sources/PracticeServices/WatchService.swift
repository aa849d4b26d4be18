import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.WatchService: change events of an account (or of every account, for operators).
///
/// The stream first replays what is kept after `after_sequence` (0: nothing, from now), then sends
/// the `SYNCED` marker, then live events. The watcher subscribes before it reads the store, and
/// skips live events it already replayed, so nothing falls in between.
struct WatchService: WatchServiceHandler {
  let env: ServiceEnvironment
  var reads: Reads { Reads(env: env) }


  func watch(
    _ req: Practice_V1_WatchRequest, writer out: ServerStreamWriter<Practice_V1_WatchEvent>, context ctx: CallContext
  ) async throws {
    let accountID: String? = req.accountID.isEmpty ? nil : req.accountID
    if accountID == nil {
      guard ctx.peer.peerClass == .operator else {
        throw RPCError.permissionDenied(.roleRequired, "watching every account needs an operator peer")
      }
      if req.afterSequence != 0 {
        throw RPCError.invalidArgument(field: "after_sequence", "must be 0 when watching every account")
      }
    }
    if req.afterSequence < 0 { throw RPCError.invalidArgument(field: "after_sequence", "must not be negative") }
    let kinds = Set(req.kinds)
    // A service peer's subscription also takes USER events, whatever kinds it asked for: they are
    // when its actor is checked again (and are sent only when asked for).
    let recheckActor = ctx.peer.peerClass == .service && accountID != nil
    let sub = env.changes.subscribe(accountID: accountID, kinds: recheckActor && !kinds.isEmpty ? kinds.union([.user]) : kinds)
    defer { env.changes.unsubscribe(sub) }

    // Replay, in the same snapshot as the authorization. Events are known by (account, sequence):
    // the replay ends at the account's sequence in this snapshot, and live events at or below what
    // was sent for their account are skipped (a global id is no order: PostgreSQL assigns them in
    // insertion order, not commit order, across sessions).
    let after = req.afterSequence
    let replay: (events: [Practice_V1_ChangeEvent], lastSequence: Int64) = try await reads.run(ctx, accountID: accountID) { r, _ in
      guard let accountID else { return ([], 0) }
      guard let account = try r.account(accountID) else { throw RPCError.notFound("account \(accountID)") }
      if after == 0 || after >= account.changeSequence {
        return ([], max(after, account.changeSequence))
      }
      let oldest = try r.oldestKeptSequence(account: accountID)
      if oldest == 0 || after + 1 < oldest {
        throw RPCError.failedPrecondition(.watchTooOld, "changes after sequence \(after) are no longer kept (oldest kept: \(oldest))")
      }
      var events: [Practice_V1_ChangeEvent] = []
      var last = after
      while last < account.changeSequence {
        let batch = try r.changes(account: accountID, afterSequence: last, limit: 1000)
        guard let end = batch.last?.sequence else { break }
        events += batch.filter { $0.sequence <= account.changeSequence }
        last = end
      }
      guard events.first?.sequence == after + 1 else {
        throw RPCError.failedPrecondition(.watchTooOld, "changes after sequence \(after) are no longer kept")
      }
      return (events, account.changeSequence)
    }
    if let accountID { env.changes.prime(accountID, sequence: replay.lastSequence) }
    // The stream runs beside an overflow watch: a watcher that stops reading is blocked in `send`,
    // and must still be ended when it falls behind its buffer.
    let changes = env.changes
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        await sub.waitForOverflow()
        if sub.overflowed {
          throw RPCError(.resourceExhausted, .watchOverflow, "the watcher fell behind its buffer")
        }
      }
      group.addTask {
        for e in replay.events where kinds.isEmpty || kinds.contains(e.kind) {
          try await out.send(.change(e))
        }
        var synced = Practice_V1_WatchEvent()
        synced.synced = true
        try await out.send(synced)

        // The last sequence sent, per account.
        var lastSent: [String: Int64] = accountID.map { [$0: replay.lastSequence] } ?? [:]
        while true {
          let batch = await withTaskCancellationHandler {
            await sub.next()
          } onCancel: {
            changes.unsubscribe(sub)
          }
          guard let batch else {
            if sub.overflowed {
              throw RPCError(.resourceExhausted, .watchOverflow, "the watcher fell behind its buffer")
            }
            try Task.checkCancellation()
            try ctx.control.checkNotEnded()
            return
          }
          // A service peer's stream lives only as long as its actor: when the user changes (a
          // deactivation), the actor is checked again, and the stream ends with UNKNOWN_ACTOR
          // before it delivers anything more.
          if recheckActor, batch.contains(where: { $0.kind == .user }) {
            try await reads.run(ctx, accountID: accountID) { _, _ in }
          }
          for e in batch where e.sequence > lastSent[e.accountID, default: 0] {
            lastSent[e.accountID] = e.sequence
            if kinds.isEmpty || kinds.contains(e.kind) { try await out.send(.change(e)) }
          }
        }
      }
      // The first to finish decides; the other is cancelled (and the subscription ended, so the
      // overflow watch returns).
      defer { changes.unsubscribe(sub) }
      try await group.next()
      group.cancelAll()
    }
  }
}

extension Practice_V1_WatchEvent {
  static func change(_ e: Practice_V1_ChangeEvent) -> Practice_V1_WatchEvent {
    var w = Practice_V1_WatchEvent()
    w.change = e
    return w
  }
}
