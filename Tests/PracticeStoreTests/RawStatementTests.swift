import Foundation
import GRDB
import PracticeCore
import PracticeProto
import Testing

@testable import PracticeStore

@Suite("RawStatement: statements on SQLite's C API")
struct RawStatementTests {
  func queue() throws -> DatabaseQueue {
    let q = try DatabaseQueue()
    try q.write { db in
      try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER NOT NULL, body BLOB NOT NULL, note TEXT)")
    }
    return q
  }

  @Test("an empty string binds '' and an empty blob binds an empty blob, never NULL; NULL reads as nil")
  func emptyValues() throws {
    try queue().write { db in
      let insert = try RawStatement(db, "INSERT INTO t (name, n, body) VALUES (?, ?, ?)")
      try insert.bind(.text(""), .int(-7), .blob(Data()))
      try insert.run()
      let read = try RawStatement(db, "SELECT name, n, body, note, typeof(body) FROM t WHERE name = ?")
      try read.bind(.text(""))
      #expect(try read.step())
      #expect(read.data(0) == Data())
      #expect(read.int64(1) == -7)
      #expect(read.data(2) == Data())
      #expect(read.data(3) == nil)
      #expect(read.data(4) == Data("blob".utf8))
      #expect(try read.step() == false)
    }
  }

  @Test("text columns read back as written (empty, multi-byte); NULL, a flag and an optional text bind as SQLite expects")
  func textColumns() throws {
    try queue().write { db in
      // One statement at a time: GRDB hands out the same cached statement for the same SQL, and it is
      // reset when its RawStatement ends.
      for values: [RawStatement.Value] in [
        [.text("Zoë 東京 🦀"), .flag(true), .blob(Data([1])), .optionalText(nil)],
        [.text(""), .integer(Int32(7)), .blob(Data([2])), .optionalText("")],
      ] {
        let insert = try RawStatement(db, "INSERT INTO t (name, n, body, note) VALUES (?, ?, ?, ?)")
        try insert.bind(values)
        try insert.run()
      }
      let read = try RawStatement(db, "SELECT name, n, note FROM t ORDER BY id")
      #expect(try read.step())
      #expect(read.text(0) == "Zoë 東京 🦀" && read.int64(1) == 1 && read.text(2) == nil)
      #expect(try read.step())
      #expect(read.text(0) == "" && read.int64(1) == 7 && read.text(2) == "")
      #expect(try read.step() == false)
    }
  }

  @Test("text and blobs round-trip byte for byte, multi-byte characters included")
  func roundTrip() throws {
    try queue().write { db in
      let name = "Zoë Ærø 🦀 \u{1}"
      let body = Data((0...255).map { UInt8($0) })
      do {
        let insert = try RawStatement(db, "INSERT INTO t (name, n, body) VALUES (?, ?, ?)")
        try insert.bind(.text(name), .int(Int64.max), .blob(body))
        try insert.run()
      }
      let read = try RawStatement(db, "SELECT name, n, body FROM t WHERE name = ?")
      try read.bind(.text(name))
      #expect(try read.step())
      #expect(read.data(0) == Data(name.utf8))
      #expect(read.int64(1) == Int64.max)
      #expect(read.data(2) == body)
    }
  }

  @Test("a failing step throws GRDB's DatabaseError with SQLite's extended code, and the statement is reusable")
  func failures() throws {
    try queue().write { db in
      func insert(_ name: String) throws {
        let s = try RawStatement(db, "INSERT INTO t (name, n, body) VALUES (?, ?, ?)")
        try s.bind(.text(name), .int(1), .blob(Data([1])))
        try s.run()
      }
      try insert("a")
      #expect {
        try insert("a")
      } throws: { error in
        (error as? DatabaseError)?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
          && (error as? DatabaseError)?.message?.contains("t.name") == true
      }
      try insert("b")
      #expect(try String.fetchAll(db, sql: "SELECT name FROM t ORDER BY name") == ["a", "b"])
      // A statement left at a row by a reader is reset when it ends: the next run sees the new rows.
      do {
        let read = try RawStatement(db, "SELECT name FROM t ORDER BY name")
        #expect(try read.step())
      }
      try db.execute(sql: "INSERT INTO t (name, n, body) VALUES ('0', 0, x'00')")
      let read = try RawStatement(db, "SELECT name FROM t ORDER BY name")
      #expect(try read.step())
      #expect(read.data(0) == Data("0".utf8))
    }
  }

  @Test("the store's mutation statements: change sequences count up per account, audit rows keep empty fields")
  func storeStatements() async throws {
    let store = try SQLiteStore()
    let account = {
      var a = Practice_V1_Account()
      a.accountID = "acct_1"
      a.version = 1
      return a
    }()
    try await store.write { w in try w.insertAccount(account) }
    let seqs = try await store.write { w in
      [try w.nextChangeSequence(account: "acct_1"), try w.nextChangeSequence(account: "acct_1")]
    }
    #expect(seqs == [1, 2])
    await #expect(throws: (any Error).self) { try await store.write { w in try w.nextChangeSequence(account: "nobody") } }
    let audit = {
      var e = Practice_V1_AuditEvent()
      e.accountID = "acct_1"
      e.method = "/practice.v1.AccountService/UpdateAccountSettings"
      return e
    }()
    try await store.write { w in try w.appendAudit(audit, before: nil, after: nil) }
    let read = try await store.read { r in
      (try r.account("acct_1")?.changeSequence, try r.auditEvents(AuditQuery(accountID: "acct_1", limit: 10)))
    }
    #expect(read.0 == 2)
    #expect(read.1.count == 1 && read.1.first?.actorUserID == "" && read.1.first?.method == audit.method)
  }
}

@Suite("Streaming reads")
struct ReadEachTests {
  @Test("readEach hands items over as they come, at most the window waiting, and stops the read when the consumer fails")
  func windowAndStop() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("read-each-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = try SQLiteStore(path: dir.appendingPathComponent("practiced.db").path)
    let emitted = LockedState(0)
    var consumed = 0
    var mostWaiting = 0
    try await store.readEach(window: 3, { r, emit in
      for i in 0..<200 {
        _ = try r.accountCount()
        emitted.withLock { $0 += 1 }
        try emit(i)
      }
    }, consume: { (i: Int) in
      #expect(i == consumed)
      consumed += 1
      mostWaiting = max(mostWaiting, emitted.withLock { $0 } - consumed)
      try await Task.sleep(for: .microseconds(200))
    })
    #expect(consumed == 200)
    #expect(mostWaiting <= 4, "\(mostWaiting) items were waiting at once")

    struct Stop: Error {}
    emitted.withLock { $0 = 0 }
    await #expect(throws: Stop.self) {
      try await store.readEach(window: 2, { _, emit in
        for i in 0..<10_000 {
          emitted.withLock { $0 += 1 }
          try emit(i)
        }
      }, consume: { (i: Int) in if i == 5 { throw Stop() } })
    }
    // The reader stopped at its next item instead of reading on.
    try await Task.sleep(for: .milliseconds(100))
    #expect(emitted.withLock { $0 } <= 10)
    // And its transaction ended: a write goes through.
    try await store.write { w in try w.probeWrite() }
    try await store.close()
  }
}
