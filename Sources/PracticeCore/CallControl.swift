import Synchronization

/// The life of one call, shared by the call's task and whoever may end it early (its deadline, a
/// cancel frame, a disconnect, shutdown).
///
/// The commit rule of docs/PROTOCOL.md lives here: a deadline or cancel ends a call only while it is
/// `running`. Once a mutation has entered its write transaction (`beginCommit`), it completes and
/// reports its real result.
public final class CallControl: Sendable {
  private enum State {
    case running
    case committing
    case ended(RPCError)
    case finished
  }

  // Synchronization.Mutex, not LockedState: there is one CallControl per call, and Mutex lives inline
  // (LockedState would add three allocations and a pthread_mutex_init per call). ThreadSanitizer does
  // not see Mutex's ordering: a report on this state under TSan is that blind spot, not a race.
  private let state = Mutex(State.running)

  public init() {}

  /// Called by a mutation as it enters its write transaction. Throws the error that ended the call
  /// when it was ended first, so that nothing is written.
  public func beginCommit() throws(RPCError) {
    try state.withLock { (s: inout State) throws(RPCError) in
      switch s {
      case .running: s = .committing
      case .committing: break
      case .ended(let error): throw error
      case .finished: break
      }
    }
  }

  /// Ends the call from outside with `error`. Returns `true` when this did end it (it was running);
  /// `false` when it is committing, already ended, or finished.
  public func end(_ error: RPCError) -> Bool {
    state.withLock { s in
      if case .running = s {
        s = .ended(error)
        return true
      }
      return false
    }
  }

  /// Marks the call finished by its own task. Returns `false` when it had been ended from outside
  /// (its final response was already sent).
  public func finish() -> Bool {
    state.withLock { s in
      switch s {
      case .running, .committing:
        s = .finished
        return true
      case .ended, .finished:
        return false
      }
    }
  }

  /// Whether the call is over: finished by its own task, or ended from outside.
  public var isOver: Bool {
    state.withLock { s in
      switch s {
      case .running, .committing: return false
      case .ended, .finished: return true
      }
    }
  }

  /// The error that ended the call early, if any.
  public var endedError: RPCError? {
    state.withLock { s in
      if case .ended(let e) = s { return e }
      return nil
    }
  }

  /// Throws when the call was ended from outside (for long handlers that want to stop early).
  public func checkNotEnded() throws(RPCError) {
    if let e = endedError { throw e }
  }
}

extension CallControl {
  /// Runs `body` while the call has not been ended from outside, atomically with respect to `end`,
  /// so that nothing is written for a call after its final response. Returns whether it ran.
  public func ifNotEnded(_ body: () -> Void) -> Bool {
    state.withLock { s in
      switch s {
      case .running, .committing:
        body()
        return true
      case .ended, .finished:
        return false
      }
    }
  }
}
