import PracticeCore
import PracticeStore

/// The store's failures as the status a caller gets: the one place they are mapped.
extension StoreError: RPCErrorConvertible {
  public var rpcError: RPCError {
    switch kind {
    case .full: RPCError(.resourceExhausted, .storeFull, message)
    case .unavailable: RPCError(.unavailable, .storeUnavailable, message)
    case .conflict: RPCError(.alreadyExists, .alreadyExists, message)
    case .overlap: RPCError(.failedPrecondition, .roomConflict, message)
    case .notFound: .notFound(message)
    case .corrupt, .other: .internal(message)
    }
  }
}
