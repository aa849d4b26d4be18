import ArgumentParser
import Foundation
import GRDB
import PracticeProto
import PracticeStore
import SwiftProtobuf

/// Seeds a database directly (a bulk SQL loader, not durable RPCs): accounts, and one bench account
/// with business information, practitioners, a location, rooms and bookings.
struct Seed: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Create and bulk-load a benchmark database.")

  @Option var stateDir: String
  @Option(help: "Extra accounts (each with an owner and business information).") var accounts = 0
  @Option var rooms = 200
  @Option var bookings = 1_000_000

  static let benchAccount = "acct_bench"
  static let practitioner = "user_bench_p1"
  static let location = "loc_bench"

  func run() throws {
    try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
    let path = stateDir + "/practiced.db"
    // Opening the store creates and migrates the schema exactly as the daemon does.
    _ = try SQLiteStore(path: path)
    var config = Configuration()
    config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF") }
    let queue = try DatabaseQueue(path: path, configuration: config)
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let started = Date()
    try queue.write { db in
      func account(_ id: String, _ name: String) throws {
        var a = Practice_V1_Account()
        a.accountID = id
        a.practiceName = name
        a.state = .active
        a.settings.timeZone = "UTC"
        a.settings.roomConflictPolicy = .warn
        a.version = 1
        a.createdAtMs = now
        a.ownerUserID = id + "_owner"
        try db.execute(sql: "INSERT INTO accounts (id, state, created_at_ms, version, body) VALUES (?, ?, ?, ?, ?)",
                       arguments: [id, a.state.rawValue, now, 1, try a.serializedData()])
        var u = Practice_V1_User()
        u.accountID = id
        u.userID = id + "_owner"
        u.name = "Owner"
        u.roles = [.owner]
        u.active = true
        u.version = 1
        try db.execute(sql: "INSERT INTO users (account_id, id, email_key, active, version, body) VALUES (?, ?, NULL, 1, 1, ?)",
                       arguments: [id, u.userID, try u.serializedData()])
        var b = Practice_V1_BusinessInfo()
        b.accountID = id
        b.practiceName = name
        b.legalName = name + " LLC"
        b.npi = "1234567893"
        b.npiEntityType = .type1
        b.billingProviderType = .individual
        b.phone = "6175550100"
        b.version = 1
        try db.execute(sql: "INSERT INTO business_info (account_id, version, body) VALUES (?, 1, ?)",
                       arguments: [id, try b.serializedData()])
      }
      try account(Self.benchAccount, "Bench Practice")
      for i in 0..<accounts { try account(String(format: "acct_%08d", i), "Practice \(i)") }
      for (id, name) in [(Self.practitioner, "P1"), ("user_bench_p2", "P2")] {
        var u = Practice_V1_User()
        u.accountID = Self.benchAccount
        u.userID = id
        u.name = name
        u.roles = [.practitioner]
        u.active = true
        u.version = 1
        try db.execute(sql: "INSERT INTO users (account_id, id, email_key, active, version, body) VALUES (?, ?, NULL, 1, 1, ?)",
                       arguments: [Self.benchAccount, id, try u.serializedData()])
      }
      var l = Practice_V1_Location()
      l.accountID = Self.benchAccount
      l.locationID = Self.location
      l.name = "Bench office"
      l.posCode = "11"
      l.isDefault = true
      l.version = 1
      try db.execute(sql: "INSERT INTO locations (account_id, id, archived, is_default, version, body) VALUES (?, ?, 0, 1, 1, ?)",
                     arguments: [Self.benchAccount, l.locationID, try l.serializedData()])
      for r in 0..<rooms {
        var room = Practice_V1_Room()
        room.accountID = Self.benchAccount
        room.roomID = String(format: "room_%04d", r)
        room.name = "Room \(r)"
        room.locationIds = [Self.location]
        room.version = 1
        try db.execute(sql: "INSERT INTO rooms (account_id, id, archived, version, body) VALUES (?, ?, 0, 1, ?)",
                       arguments: [Self.benchAccount, room.roomID, try room.serializedData()])
      }
      // Bookings: per room, back to back-ish 50-minute slots from 2027 on, with some overridden overlaps.
      let statement = try db.makeStatement(sql: """
        INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body)
        VALUES (?, ?, ?, ?, ?, 1, '', 1, 1, ?)
        """)
      let base: Int64 = 1_798_761_600_000  // 2027-01-01
      var rng = SplitMix(seed: 42)
      let perRoom = max(1, bookings / max(rooms, 1))
      var b = Practice_V1_RoomBooking()
      b.accountID = Self.benchAccount
      b.locationID = Self.location
      b.practitionerUserID = Self.practitioner
      b.status = .active
      b.occurrence = 1
      b.version = 1
      for i in 0..<bookings {
        let room = i % rooms
        let slot = Int64(i / rooms)
        let start = base + slot * 3_600_000 + Int64(rng.next() % 4) * 60_000
        let length = Int64(30 + rng.next() % 90) * 60_000  // 30-120 minutes: some overlap the next slot
        b.bookingID = String(format: "bk_%08d", i)
        b.roomID = String(format: "room_%04d", room)
        b.startMs = start
        b.endMs = start + length
        b.overridden = length > 3_600_000
        try statement.execute(arguments: [b.bookingID, Self.benchAccount, b.roomID, b.startMs, b.endMs, try b.serializedData()])
      }
      _ = perRoom
    }
    try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    let seconds = Date().timeIntervalSince(started)
    print("RESULT seed_bookings \(bookings) bookings")
    print(String(format: "RESULT seed_seconds %.1f s", seconds))
  }
}

/// A small deterministic generator, so every run seeds the same data.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// SQL-level timing of the conflict query the daemon runs (`SQLiteStore.conflictSQL`: a window from
/// the room's longest booking on its (room, start) key) beside a naive one that has no lower bound on
/// the start (it reads every earlier booking of the room), on the seeded file.
struct SQLBench: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "sql", abstract: "Time the conflict query at the SQL level.")
  @Option var stateDir: String
  @Option var rooms = 200
  @Option var queries = 2000

  func run() throws {
    let queue = try DatabaseQueue(path: stateDir + "/practiced.db")
    let naive = """
      SELECT body FROM room_bookings
      WHERE room_id = ? AND start_ms < ? AND end_ms > ? AND status = 1
      ORDER BY start_ms
      """
    let base: Int64 = 1_798_761_600_000
    let span: Int64 = 3_600_000 * 5000
    var rng = SplitMix(seed: 7)
    var boundedNs: [UInt64] = []
    var naiveNs: [UInt64] = []
    try queue.read { db in
      let b = try db.makeStatement(sql: SQLiteStore.conflictSQL)
      let n = try db.makeStatement(sql: naive)
      for _ in 0..<queries {
        let room = String(format: "room_%04d", Int(rng.next() % UInt64(rooms)))
        let start = base + Int64(rng.next() % UInt64(span))
        let end = start + 50 * 60_000
        var t = DispatchTime.now().uptimeNanoseconds
        let found = try Data.fetchAll(b, arguments: [Seed.benchAccount, room, start, end])
        boundedNs.append(DispatchTime.now().uptimeNanoseconds - t)
        t = DispatchTime.now().uptimeNanoseconds
        let all = try Data.fetchAll(n, arguments: [room, end, start])
        naiveNs.append(DispatchTime.now().uptimeNanoseconds - t)
        guard found == all else { throw ValidationError("the bounded and naive searches disagree for \(room) at \(start)") }
      }
    }
    let bp = Percentiles(boundedNs), np = Percentiles(naiveNs)
    print(String(format: "RESULT sql_conflict_bounded_p50 %.1f us", bp.p50us))
    print(String(format: "RESULT sql_conflict_bounded_p99 %.1f us", bp.p99us))
    print(String(format: "RESULT sql_conflict_naive_p50 %.1f us", np.p50us))
    print(String(format: "RESULT sql_conflict_naive_p99 %.1f us", np.p99us))
    print(String(format: "RESULT sql_conflict_naive_over_bounded %.1f x", np.p50us / max(bp.p50us, 0.001)))
  }
}
