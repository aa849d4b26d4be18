import PracticeCore
import PracticeRPC
import PracticeServices
import PracticeStore
import PracticeWire
import Testing

@Suite("Store errors to statuses")
struct StoreErrorTests {
  @Test("each kind of store failure becomes its documented status, in one place")
  func mapping() {
    let cases: [(StoreError.Kind, StatusCode, Reason)] = [
      (.full, .resourceExhausted, .storeFull), (.unavailable, .unavailable, .storeUnavailable),
      (.conflict, .alreadyExists, .alreadyExists), (.notFound, .notFound, .notFound),
      (.corrupt, .internal, .internalError), (.other, .internal, .internalError),
    ]
    for (kind, code, reason) in cases {
      let status = StoreError(kind, "x").rpcError
      #expect(status.code == code && status.reason == reason, "\(kind)")
    }
  }

  @Test("a write to a read-only store fails with the store's own error, .unavailable")
  func readOnly() async throws {
    let store = try SQLiteStore(inMemory: ())
    try await store.setReadOnly(true)
    do {
      try await store.write { w in try w.probeWrite() }
      Issue.record("a read-only store took a write")
    } catch let e as StoreError {
      #expect(e.kind == .unavailable)
    }
  }
}
