import Foundation
import GRDB

@testable import PracticeStore

/// What an upgrade finds on disk: a practiced database file in a temporary directory, migrated only
/// up to `migration` and filled by `fill`. Opening it with `SQLiteStore(path:)` runs the later
/// migrations. `remove()` deletes the directory.
struct OlderDatabase {
  let path: String
  private let directory: URL

  init(upTo migration: String, _ fill: (Database) throws -> Void) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("older-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    path = directory.appendingPathComponent("practiced.db").path
    let q = try DatabaseQueue(path: path)
    try q.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA application_id = \(SQLiteStore.applicationID)") }
    try SQLiteStore.migrator.migrate(q, upTo: migration)
    try q.write(fill)
    try q.close()
  }

  func remove() { try? FileManager.default.removeItem(at: directory) }
}
