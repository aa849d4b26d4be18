import Foundation
import GRDB
import Testing

@testable import PracticeStore

/// Schema v5: idempotency records keep the request's bytes instead of their SHA-256.
@Suite("Idempotency records across v5")
struct IdempotencyMigrationTests {
  @Test("a record from before v5 keeps its hash and reads with no request; a new one keeps the request's bytes")
  func upgrade() async throws {
    let older = try OlderDatabase(upTo: "v4-lifecycle-notices") { db in
      try db.execute(sql: """
        INSERT INTO idempotency (scope, key, method, payload_hash, response, created_at_ms)
        VALUES ('acct_1', 'key-old', '/practice.v1.AccountService/AddUser', ?, X'0800', 1)
        """, arguments: [Data(repeating: 7, count: 32)])
    }
    defer { older.remove() }
    let store = try SQLiteStore(path: older.path)
    let old = try await store.read(needsDatabase: true) { try $0.idempotency(scope: "acct_1", key: "key-old") }
    #expect(old?.method == "/practice.v1.AccountService/AddUser" && old?.request == nil && old?.response == Data([8, 0]))

    let bytes = Data([0x0a, 0x03, 0x61, 0x62, 0x63])
    try await store.write { w in
      try w.putIdempotency(IdempotencyRecord(
        scope: "acct_1", key: "key-new", method: "/practice.v1.AccountService/AddUser", request: bytes, response: Data(),
        createdAtMs: 2))
    }
    let new = try await store.read(needsDatabase: true) { try $0.idempotency(scope: "acct_1", key: "key-new") }
    #expect(new?.request == bytes)
    // An empty request (a message with every field at its default) is still a request, not a legacy record.
    try await store.write { w in
      try w.putIdempotency(IdempotencyRecord(
        scope: "acct_1", key: "key-empty", method: "/practice.v1.AccountService/AddUser", request: Data(), response: Data(),
        createdAtMs: 3))
    }
    let empty = try await store.read(needsDatabase: true) { try $0.idempotency(scope: "acct_1", key: "key-empty") }
    #expect(empty?.request == Data())
    try await store.close()
  }
}
