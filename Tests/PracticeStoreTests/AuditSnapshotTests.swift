import Foundation
import GRDB
import PracticeProto
import SwiftProtobuf
import Testing

@testable import PracticeStore

@Suite("Audit snapshots: the resource in binary, rendered as JSON when the log is read")
struct AuditSnapshotTests {
  static func businessInfo() -> Practice_V1_BusinessInfo {
    var b = Practice_V1_BusinessInfo()
    b.accountID = "acct_1"
    b.practiceName = "Harbor Thérapie «Nord»"
    b.taxID = "*****4321"
    b.taxIDMasked = true
    b.taxIDType = .ein
    b.phone = "6175550100"
    b.version = 3
    return b
  }

  func event(_ method: String) -> Practice_V1_AuditEvent {
    var e = Practice_V1_AuditEvent()
    e.accountID = "acct_1"
    e.method = method
    return e
  }

  /// A database at schema v2 with one audit event that carries its own JSON, as events did then.
  static func v2Database() throws -> OlderDatabase {
    var e = Practice_V1_AuditEvent()
    e.accountID = "acct_1"
    e.method = "old"
    e.beforeJson = #"{"name": "before"}"#
    e.afterJson = #"{"name": "after"}"#
    let body = try e.serializedData()
    return try OlderDatabase(upTo: "v2-conflict-search") { db in
      try db.execute(sql: """
        INSERT INTO audit_events (account_id, time_ms, actor_user_id, method, resource_id, body)
        VALUES ('acct_1', 1, '', 'old', '', ?)
        """, arguments: [body])
    }
  }

  func store() async throws -> SQLiteStore {
    let store = try SQLiteStore(inMemory: ())
    try await store.write { w in
      var a = Practice_V1_Account()
      a.accountID = "acct_1"
      try w.insertAccount(a)
    }
    return store
  }

  @Test("a snapshot reads back as the JSON written at once would have been; nil stays empty, an empty message is {}")
  func rendering() async throws {
    let store = try await store()
    let after = Self.businessInfo()
    let before = {
      var b = after
      b.practiceName = "Old name"
      return b
    }()
    try await store.write { w in
      try w.appendAudit(event("update"), before: AuditSnapshot(before), after: AuditSnapshot(after))
      try w.appendAudit(event("create"), before: nil, after: AuditSnapshot(Practice_V1_Room()))
    }
    let events = try await store.read { r in try r.auditEvents(AuditQuery(accountID: "acct_1", limit: 10)) }
    #expect(events.count == 2)
    #expect(events[0].beforeJson == AuditSnapshot.json(before) && events[0].afterJson == AuditSnapshot.json(after))
    #expect(events[0].afterJson.contains("\"practice_name\":\"Harbor Thérapie «Nord»\""), "\(events[0].afterJson)")
    #expect(events[0].afterJson.contains("*****4321") && events[0].beforeJson.contains("Old name"))
    #expect(events[1].beforeJson == "" && events[1].afterJson == "{}")
  }

  @Test("every resource type mutations record has a snapshot; another type has none (its JSON is written at once)")
  func types() {
    let recorded: [any SwiftProtobuf.Message] = [
      Practice_V1_Account(), Practice_V1_User(), Self.businessInfo(), Practice_V1_Location(), Practice_V1_PayerPosRule(),
      Practice_V1_Room(), Practice_V1_RoomBooking(), Practice_V1_Subscription(), Practice_V1_PaymentMethod(),
      Practice_V1_Invoice(),
    ]
    for m in recorded {
      let s = AuditSnapshot(m)
      #expect(s?.typeName == type(of: m).protoMessageName)
      #expect(s?.json == AuditSnapshot.json(m))
    }
    #expect(AuditSnapshot(Practice_V1_ChangeEvent()) == nil)
  }

  @Test("events written before migration v3 keep the JSON they carry")
  func olderEvents() async throws {
    let file = try Self.v2Database()
    defer { file.remove() }
    let store = try SQLiteStore(path: file.path)
    _ = try await store.write { w in try w.appendAudit(event("new"), before: nil, after: AuditSnapshot(Self.businessInfo())) }
    let events = try await store.read { r in try r.auditEvents(AuditQuery(accountID: "acct_1", limit: 10)) }
    #expect(events.map(\.method) == ["old", "new"])
    #expect(events[0].beforeJson == #"{"name": "before"}"# && events[0].afterJson == #"{"name": "after"}"#)
    #expect(events[1].beforeJson == "" && events[1].afterJson == AuditSnapshot.json(Self.businessInfo()))
    try await store.close()
  }
}
