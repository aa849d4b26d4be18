import Foundation
import GRDB
import PracticeProto
import Testing

@testable import PracticeStore

/// The conflict search reads the bookings that start after (start - the room's longest booking):
/// `rooms.longest_booking_ms`, kept by a trigger and filled for existing rooms by migration v2.
@Suite("Conflict window: the room's longest booking")
struct ConflictWindowTests {
  static let hour: Int64 = 3_600_000
  static let t0: Int64 = 1_798_761_600_000

  /// A database file at schema v1 (as shipped before v2) with one room and two bookings: 50 minutes,
  /// then 20 hours.
  static func v1Database() throws -> OlderDatabase {
    try OlderDatabase(upTo: "v1") { db in
      try db.execute(sql: "INSERT INTO accounts (id, state, created_at_ms, version, body) VALUES ('acct', 1, 0, 1, x'')")
      try db.execute(sql: "INSERT INTO rooms (account_id, id, archived, version, body) VALUES ('acct', 'room', 0, 1, x'')")
      for (id, start, end) in [("short", t0, t0 + 50 * 60_000), ("long", t0 + 2 * hour, t0 + 22 * hour)] {
        var b = Practice_V1_RoomBooking()
        b.bookingID = id
        b.roomID = "room"
        b.startMs = start
        b.endMs = end
        b.status = .active
        try db.execute(sql: """
          INSERT INTO room_bookings (id, account_id, room_id, start_ms, end_ms, status, series_id, occurrence, version, body)
          VALUES (?, 'acct', 'room', ?, ?, 1, '', 0, 1, ?)
          """, arguments: [id, start, end, try b.serializedData()])
      }
    }
  }

  func conflicts(_ store: SQLiteStore, _ start: Int64, _ end: Int64) async throws -> [String] {
    try await store.read(needsDatabase: true) { r in
      try r.conflicts(account: "acct", room: "room", startMs: start, endMs: end).map(\.bookingID)
    }
  }

  @Test("migration v2 sets each room's longest booking from its bookings; a check 19 hours into the long one finds it")
  func migration() async throws {
    let file = try Self.v1Database()
    defer { file.remove() }
    let store = try SQLiteStore(path: file.path)
    #expect(try await store.pragma("SELECT longest_booking_ms FROM rooms WHERE id = 'room'") == "\(20 * Self.hour)")
    #expect(try await conflicts(store, Self.t0 + 21 * Self.hour, Self.t0 + 21 * Self.hour + 30 * 60_000) == ["long"])
    #expect(try await conflicts(store, Self.t0 + 30 * 60_000, Self.t0 + 3 * Self.hour) == ["short", "long"])
    #expect(try await conflicts(store, Self.t0 + 22 * Self.hour, Self.t0 + 23 * Self.hour).isEmpty)
    try await store.close()
  }

  @Test("a longer booking widens the window at once; a shorter one or a cancellation never narrows it")
  func trigger() async throws {
    let store = try SQLiteStore(inMemory: ())
    try await store.write { w in
      var account = Practice_V1_Account()
      account.accountID = "acct"
      account.state = .active
      try w.insertAccount(account)
      var room = Practice_V1_Room()
      room.accountID = "acct"
      room.roomID = "room"
      try w.putRoom(room)
    }
    func put(_ id: String, _ start: Int64, hours: Int64, status: Practice_V1_BookingStatus = .active) async throws {
      var b = Practice_V1_RoomBooking()
      b.bookingID = id
      b.accountID = "acct"
      b.roomID = "room"
      b.startMs = start
      b.endMs = start + hours * Self.hour
      b.status = status
      let booking = b
      try await store.write { w in try w.putBooking(booking) }
    }
    func longest() async throws -> String? { try await store.pragma("SELECT longest_booking_ms FROM rooms WHERE id = 'room'") }

    #expect(try await longest() == "0")
    try await put("one", Self.t0, hours: 1)
    #expect(try await longest() == "\(Self.hour)")
    try await put("day", Self.t0 + 2 * Self.hour, hours: 23)
    #expect(try await longest() == "\(23 * Self.hour)")
    #expect(try await conflicts(store, Self.t0 + 24 * Self.hour, Self.t0 + 24 * Self.hour + 1) == ["day"])
    try await put("short", Self.t0 + 30 * Self.hour, hours: 1)
    try await put("day", Self.t0 + 2 * Self.hour, hours: 23, status: .cancelled)
    #expect(try await longest() == "\(23 * Self.hour)")
    #expect(try await conflicts(store, Self.t0 + 24 * Self.hour, Self.t0 + 24 * Self.hour + 1).isEmpty)
    try await store.close()
  }
}
