import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import Synchronization
import Testing

/// Reads served inline from the store's read cache stay coherent with writes: a caller that saw a
/// write acknowledged reads it (from any connection), and concurrent readers never see a version go
/// backwards.
@Suite("Read cache coherence", .serialized)
struct ReadCacheTests {
  @Test("read-your-writes across connections, and versions never go backwards for concurrent readers")
  func coherence() async throws {
    try await withServices { d in
      let writer = try await d.connect()
      let s = try await Staff.make(writer)
      let get = { var r = Practice_V1_GetBusinessInfoRequest(); r.accountID = s.account; return r }()
      let stop = Shared(false)
      let backwards = Shared(0)
      let readsDone = Shared(0)
      let readers = try await (0..<4).asyncMap { _ in try await d.connect(as: .service) }
      let tasks = readers.map { c in
        Task {
          var last: Int64 = 0
          while !stop.value {
            guard let v = try? await c.business.getBusinessInfo(get, options: .init(actor: s.biller)).businessInfo.version else { continue }
            if v < last { backwards.update { $0 += 1 } }
            last = v
            readsDone.update { $0 += 1 }
          }
        }
      }
      let other = try await d.connect(as: .service)
      for i in 0..<150 {
        let written = try await writer.business.updateBusinessInfo(businessUpdate(s.account, ["legal_name"]) { $0.legalName = "Name \(i)" }).businessInfo
        // Acknowledged: every connection now reads it, through the cache or not.
        let seen = try await other.business.getBusinessInfo(get, options: .init(actor: s.biller)).businessInfo
        #expect(seen.version == written.version && seen.legalName == "Name \(i)")
        // The actor's roles are cached too: a role change is seen at once.
        if i == 100 {
          var deactivate = Practice_V1_DeactivateUserRequest()
          deactivate.accountID = s.account
          deactivate.userID = s.biller
          _ = try await writer.accounts.deactivateUser(deactivate)
          await expectRPCError(.permissionDenied, .unknownActor) {
            _ = try await other.business.getBusinessInfo(get, options: .init(actor: s.biller))
          }
          break
        }
      }
      stop.update { $0 = true }
      for t in tasks { await t.value }
      #expect(backwards.value == 0)
      #expect(readsDone.value > 0)
      for c in readers + [writer, other] { await c.close() }
    }
  }

  @Test("the cached masked business information follows a tax id change, and a full tax id read never reaches a masked reader")
  func maskedTaxID() async throws {
    try await withServices { d in
      let op = try await d.connect()
      let s = try await Staff.make(op)
      let svc = try await d.connect(as: .service)
      var get = Practice_V1_GetBusinessInfoRequest()
      get.accountID = s.account
      func masked() async throws -> Practice_V1_BusinessInfo {
        try await svc.business.getBusinessInfo(get, options: .init(actor: s.practitioner)).businessInfo
      }
      _ = try await op.business.updateBusinessInfo(businessUpdate(s.account, ["tax_id", "tax_id_type"]) {
        $0.taxID = "98-7654321"
        $0.taxIDType = .ein
      })
      // Twice: the second answer comes from the cache.
      for _ in 0..<2 { #expect(try await masked().taxID == "**-***4321") }
      var full = get
      full.fullTaxID = true
      #expect(try await svc.business.getBusinessInfo(full, options: .init(actor: s.admin)).businessInfo.taxID == "98-7654321")
      for _ in 0..<2 {
        let b = try await masked()
        #expect(b.taxID == "**-***4321" && b.taxIDMasked)
      }
      _ = try await op.business.updateBusinessInfo(businessUpdate(s.account, ["tax_id"]) { $0.taxID = "12-3456789" })
      #expect(try await masked().taxID == "**-***6789")
      await op.close()
      await svc.close()
    }
  }

  @Test("a room read right after an acknowledged room change, and an availability check right after a booking, see them on another connection")
  func rooms() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let other = try await d.connect()
      let rs = try await RoomSetup.make(c)
      var get = Practice_V1_GetRoomRequest()
      get.accountID = rs.staff.account
      get.roomID = rs.room
      var check = Practice_V1_CheckRoomAvailabilityRequest()
      check.accountID = rs.staff.account
      check.roomID = rs.room
      check.startMs = 1_798_761_600_000
      check.endMs = check.startMs + 3_600_000
      for i in 0..<20 {
        // Fill the cache with the current row, then change it.
        #expect(try await other.rooms.getRoom(get).room.version == Int64(i + 1))
        #expect(try await other.rooms.checkRoomAvailability(check).available)
        var u = Practice_V1_UpdateRoomRequest()
        u.accountID = rs.staff.account
        u.roomID = rs.room
        u.updateMask = ["name"]
        u.room.name = "Room \(i)"
        let written = try await c.rooms.updateRoom(u).room
        let seen = try await other.rooms.getRoom(get).room
        #expect(seen.version == written.version && seen.name == "Room \(i)")
      }
      // A booking acknowledged on one connection is a conflict for the next check on the other.
      let booked = try await c.rooms.bookRoom(
        book(rs.staff, room: rs.room, location: rs.location, start: check.startMs, minutes: 30)).bookings
      let after = try await other.rooms.checkRoomAvailability(check)
      #expect(!after.available && after.conflicts.map(\.bookingID) == booked.map(\.bookingID))
      // An unknown room is NOT_FOUND through the inline check too (a miss is never cached).
      var missing = check
      missing.roomID = "room_that_is_not_there"
      await expectRPCError(.notFound, .notFound) { _ = try await other.rooms.checkRoomAvailability(missing) }
      await c.close()
      await other.close()
    }
  }
}

