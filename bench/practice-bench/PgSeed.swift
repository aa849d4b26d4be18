import ArgumentParser
import Foundation
import Logging
import PracticeProto
import PracticeStore
import PracticeStorePostgres

/// Copies a seeded SQLite benchmark database (`seed`) into a PostgreSQL database, through the Store
/// contract: the PostgreSQL benchmark then reads the same account, rooms and bookings as SQLite's.
struct PgSeed: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pg-seed", abstract: "Copy a seeded benchmark database into PostgreSQL.")

  @Option(help: "The seeded state directory (practiced.db).") var from: String
  @Option(help: "postgresql://USER@/DBNAME?host=DIR") var database: String
  @Option var rooms = 200

  func run() async throws {
    let source = try SQLiteStore(path: from + "/practiced.db")
    let target = try await PostgresStore(
      url: try PostgresURL(database), password: ProcessInfo.processInfo.environment["PGPASSWORD"],
      logger: Logger(label: "pg-seed"))
    let account = Seed.benchAccount
    let base = try await source.read { r -> (Practice_V1_Account, [Practice_V1_User], Practice_V1_BusinessInfo?, [Practice_V1_Location], [Practice_V1_Room]) in
      (try r.account(account)!, try r.users(account: account, after: nil, limit: 1000, includeInactive: true),
       try r.businessInfo(account: account), try r.locations(account: account, after: nil, limit: 1000, includeArchived: true),
       try r.rooms(account: account, after: nil, limit: 10_000, includeArchived: true, locationID: nil))
    }
    try await target.write { w in
      try w.insertAccount(base.0)
      for u in base.1 { try w.insertUser(u) }
      if let b = base.2 { try w.putBusinessInfo(b) }
      for l in base.3 { try w.putLocation(l) }
      for r in base.4 { try w.putRoom(r) }
    }
    var copied = 0
    for room in base.4 {
      var after: (Int64, String)? = nil
      var lastEnd = Int64.min
      while true {
        let cursor = after
        let page = try await source.read { r in
          try r.bookings(account: account, room: room.roomID, fromMs: 0, toMs: Int64.max / 2, after: cursor, limit: 5000,
                         includeCancelled: true)
        }
        guard let last = page.last else { break }
        // The seed books at random (the account's policy is WARN): a booking over an earlier one of
        // its room is an override, as BookRoom would have recorded it.
        var marked = page
        for i in marked.indices where marked[i].status == .active {
          marked[i].overridden = marked[i].startMs < lastEnd
          lastEnd = max(lastEnd, marked[i].endMs)
        }
        let batch = marked
        try await target.write { w in for b in batch { try w.putBooking(b) } }
        copied += page.count
        after = (last.startMs, last.bookingID)
      }
    }
    print("pg-seed: copied 1 account, \(base.4.count) rooms and \(copied) bookings")
    try await target.close()
    try await source.close()
  }
}
