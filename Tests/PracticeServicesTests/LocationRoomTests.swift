import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Locations and Place of Service", .serialized)
struct LocationTests {
  @Test("defaults, archiving, codes, listing")
  func locations() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let first = try await c.locations.createLocation(office(s.account, "First")).location
      #expect(first.isDefault && first.version == 1 && first.posCode == "11")
      let second = try await c.locations.createLocation(office(s.account, "Second", code: "22")).location
      #expect(!second.isDefault)

      var archive = Practice_V1_ArchiveLocationRequest()
      archive.accountID = s.account
      archive.locationID = first.locationID
      await expectRPCError(.failedPrecondition, .defaultLocation) { _ = try await c.locations.archiveLocation(archive) }

      var makeDefault = Practice_V1_UpdateLocationRequest()
      makeDefault.accountID = s.account
      makeDefault.locationID = second.locationID
      makeDefault.updateMask = ["is_default"]
      makeDefault.location.isDefault = true
      #expect(try await c.locations.updateLocation(makeDefault).location.isDefault)
      var get = Practice_V1_GetLocationRequest()
      get.accountID = s.account
      get.locationID = first.locationID
      #expect(try await !c.locations.getLocation(get).location.isDefault)
      let archived = try await c.locations.archiveLocation(archive).location
      #expect(archived.archived && !archived.isDefault)

      var list = Practice_V1_ListLocationsRequest()
      list.accountID = s.account
      #expect(try await c.locations.listLocations(list).locations.map(\.locationID) == [second.locationID])
      list.includeArchived = true
      #expect(try await c.locations.listLocations(list).locations.count == 2)

      // Codes: 02 and 10 only on telehealth; unassigned 28 and "2" refused.
      for code in ["02", "10", "28", "2"] {
        let e = await expectRPCError(.invalidArgument, .validationFailed) {
          _ = try await c.locations.createLocation(office(s.account, "Bad", code: code))
        }
        #expect(e?.violations.map(\.field) == ["location.pos_code"])
      }
      let tele = try await c.locations.createLocation(telehealth(s.account)).location
      #expect(tele.telehealth && tele.posCode == "02" && tele.addressPresence == nil)
      var noAddress = office(s.account, "Nowhere")
      noAddress.location.addressPresence = nil
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.locations.createLocation(noAddress) }

      var codes = Practice_V1_ListPlaceOfServiceCodesRequest()
      codes.accountID = s.account
      let active = try await c.locations.listPlaceOfServiceCodes(codes).codes
      #expect(active.count == 52 && active.contains { $0.code == "10" && $0.effectiveFrom == "2022-01-01" })
      codes.includeUnassigned = true
      #expect(try await c.locations.listPlaceOfServiceCodes(codes).codes.count == 99)
    }
  }

  @Test("ResolvePlaceOfService: defaults, payer rules, POS_NOT_EFFECTIVE in New York")
  func resolve() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      var tz = Practice_V1_UpdateAccountSettingsRequest()
      tz.accountID = s.account
      tz.updateMask = ["time_zone"]
      tz.settings.timeZone = "America/New_York"
      _ = try await c.accounts.updateAccountSettings(tz)
      let tele = try await c.locations.createLocation(telehealth(s.account)).location.locationID
      let off = try await c.locations.createLocation(office(s.account)).location.locationID

      var r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, home: true, date: "2024-03-01"))
      #expect(r.posCode == "10" && r.decidedBy == .telehealthDefault)
      r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, home: false, date: "2024-03-01"))
      #expect(r.posCode == "02")

      var rule = Practice_V1_SetPayerPosRuleRequest()
      rule.accountID = s.account
      rule.rule.payerID = "medicare-like"
      rule.rule.payerName = "Only 02"
      rule.rule.homePosCode = "02"
      rule.rule.notHomePosCode = "02"
      #expect(try await c.locations.setPayerPosRule(rule).rule.version == 1)
      rule.rule.payerID = "office-payer"
      rule.rule.payerName = "Wants 11"
      rule.rule.homePosCode = "11"
      rule.rule.notHomePosCode = "11"
      _ = try await c.locations.setPayerPosRule(rule)
      r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, payer: "medicare-like", home: true, date: "2024-03-01"))
      #expect(r.posCode == "02" && r.decidedBy == .payerRule && r.payerID == "medicare-like")
      r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, payer: "office-payer", home: true, date: "2024-03-01"))
      #expect(r.posCode == "11" && r.decidedBy == .payerRule)
      r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, payer: "unknown-payer", home: true, date: "2024-03-01"))
      #expect(r.posCode == "10" && r.decidedBy == .telehealthDefault)

      await expectRPCError(.failedPrecondition, .posNotEffective) {
        _ = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, tele, home: true, date: "2021-12-31"))
      }
      r = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, off, home: true, date: "1999-01-01"))
      #expect(r.posCode == "11" && r.decidedBy == .locationCode)
      await expectRPCError(.invalidArgument, .validationFailed) {
        _ = try await c.locations.resolvePlaceOfService(resolvePOS(s.account, off, home: true, date: "yesterday"))
      }

      var bad = Practice_V1_SetPayerPosRuleRequest()
      bad.accountID = s.account
      bad.rule.homePosCode = "28"
      bad.rule.notHomePosCode = "2"
      let e = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.locations.setPayerPosRule(bad) }
      #expect(Set(e?.violations.map(\.field) ?? []) == ["rule.payer_id", "rule.payer_name", "rule.home_pos_code", "rule.not_home_pos_code"])

      var list = Practice_V1_ListPayerPosRulesRequest()
      list.accountID = s.account
      #expect(try await c.locations.listPayerPosRules(list).rules.map(\.payerID) == ["medicare-like", "office-payer"])
      var del = Practice_V1_DeletePayerPosRuleRequest()
      del.accountID = s.account
      del.payerID = "office-payer"
      _ = try await c.locations.deletePayerPosRule(del)
      #expect(try await c.locations.listPayerPosRules(list).rules.map(\.payerID) == ["medicare-like"])
      await expectRPCError(.notFound, .notFound) { _ = try await c.locations.deletePayerPosRule(del) }
    }
  }
}

@Suite("Rooms and bookings", .serialized)
struct RoomTests {
  @Test("rooms need more than one active practitioner; a room applies to its locations only")
  func roomRules() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let created = try await c.accounts.createAccount(Make.account(ownerRoles: [.practitioner]))
      let acct = created.account.accountID
      let loc = try await c.locations.createLocation(office(acct)).location.locationID
      var room = Practice_V1_CreateRoomRequest()
      room.accountID = acct
      room.room.name = "Room 1"
      room.room.locationIds = [loc]
      await expectRPCError(.failedPrecondition, .roomsNeedTwoPractitioners) { _ = try await c.rooms.createRoom(room) }
      _ = try await c.accounts.addUser(Make.user(acct, "Second", roles: [.practitioner]))
      let r = try await c.rooms.createRoom(room).room
      #expect(r.locationIds == [loc])

      room.room.locationIds = ["loc_elsewhere"]
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.rooms.createRoom(room) }
      let other = try await c.locations.createLocation(office(acct, "Other")).location.locationID
      var req = Practice_V1_BookRoomRequest()
      req.accountID = acct
      req.roomID = r.roomID
      req.locationID = other
      req.practitionerUserID = created.owner.userID
      req.startMs = monday
      req.endMs = monday + hour
      let e = await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.rooms.bookRoom(req) }
      #expect(e?.violations.map(\.field) == ["location_id"])
      req.locationID = loc
      #expect(try await c.rooms.bookRoom(req).bookings.count == 1)
      req.practitionerUserID = "user_nobody"
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.rooms.bookRoom(req) }
    }
  }

  @Test("WARN: a conflict without override books nothing and names the conflicts; with override it books and audits")
  func warn() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      let s = rs.staff
      let first = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday)).bookings[0]
      let clash = book(s, room: rs.room, location: rs.location, start: monday + 30 * 60_000, practitioner: rs.secondPractitioner)
      let e = await expectRPCError(.failedPrecondition, .roomConflict) { _ = try await c.rooms.bookRoom(clash) }
      let detail = try Practice_V1_RoomConflictDetail(serializedBytes: e?.detail ?? Data())
      #expect(detail.conflicts.map(\.bookingID) == [first.bookingID])
      var list = Practice_V1_ListRoomBookingsRequest()
      list.accountID = s.account
      list.roomID = rs.room
      #expect(try await c.rooms.listRoomBookings(list).bookings.count == 1)

      var overriding = clash
      overriding.override = true
      let booked = try await c.rooms.bookRoom(overriding)
      #expect(booked.bookings.count == 1 && booked.bookings[0].overridden)
      #expect(booked.overriddenConflicts.map(\.bookingID) == [first.bookingID])
      let audit = try await auditEvents(c, s.account, method: "/practice.v1.RoomService/BookRoom")
      #expect(audit.last?.note.contains(first.bookingID) == true)
      #expect(try await c.rooms.listRoomBookings(list).bookings.count == 2)

      // Overridden bookings overlap; a third booking sees both.
      var check = roomCheck(rs, start: monday + 40 * 60_000, end: monday + 45 * 60_000)
      let availability = try await c.rooms.checkRoomAvailability(check)
      #expect(!availability.available && availability.conflicts.count == 2)
      check.startMs = monday + 2 * hour
      check.endMs = monday + 3 * hour
      #expect(try await c.rooms.checkRoomAvailability(check).available)
    }
  }

  @Test("a one-occurrence check, which passes the stored bookings on, answers byte for byte what the decoded path answers")
  func encodedCheck() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      let s = rs.staff
      var ids: [String] = []
      for (i, ref) in ["appt-1", "rendez-vous «été» ✓", ""].enumerated() {
        let b = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + Int64(i) * 10 * 60_000,
                                                practitioner: i == 1 ? rs.secondPractitioner : nil, override: true, ref: ref))
        ids.append(b.bookings[0].bookingID)
      }
      // A cancelled booking in the same span is no conflict.
      let gone = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + 5 * 60_000, override: true))
      var cancel = Practice_V1_CancelRoomBookingRequest()
      cancel.accountID = s.account
      cancel.bookingID = gone.bookings[0].bookingID
      _ = try await c.rooms.cancelRoomBooking(cancel)

      let method = "/practice.v1.RoomService/CheckRoomAvailability"
      // Windows with no conflict, the first booking only, all three.
      for (start, end, expected) in [
        (monday - 2 * hour, monday - hour, [String]()), (monday, monday + 5 * 60_000, [ids[0]]),
        (monday + 30 * 60_000, monday + 40 * 60_000, ids),
      ] {
        var check = roomCheck(rs, start: start, end: end)
        let encoded = try await c.unary(method: method, payload: try check.serializedData())
        // A weekly check of one occurrence checks the same interval through the decoded bookings.
        var weekly = Practice_V1_WeeklyRecurrence()
        weekly.occurrences = 1
        check.weekly = weekly
        let decoded = try await c.unary(method: method, payload: try check.serializedData())
        #expect(encoded == decoded, "window \(start)-\(end)")
        let response = try Practice_V1_CheckRoomAvailabilityResponse(serializedBytes: encoded)
        #expect(response.conflicts.map(\.bookingID) == expected && response.available == expected.isEmpty)
      }
    }
  }

  @Test("BLOCK: conflicts are refused even with override; back-to-back bookings do not conflict")
  func block() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c, policy: .block)
      let s = rs.staff
      _ = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday, minutes: 60))
      await expectRPCError(.failedPrecondition, .roomConflict) {
        _ = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + 59 * 60_000, override: true))
      }
      let next = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + hour))
      #expect(next.bookings.count == 1 && !next.bookings[0].overridden)
      let before = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday - hour, minutes: 60))
      #expect(before.bookings.count == 1)
    }
  }

  @Test("a booking of up to 24 hours conflicts over its whole span, after shorter bookings of the room")
  func longBooking() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c, policy: .block)
      let s = rs.staff
      _ = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday, minutes: 50))
      let day = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + hour, minutes: 24 * 60)).bookings[0]
      var check = roomCheck(rs, start: monday + 24 * hour, end: monday + 24 * hour + 30 * 60_000)
      let late = try await c.rooms.checkRoomAvailability(check)
      #expect(!late.available && late.conflicts.map(\.bookingID) == [day.bookingID])
      await expectRPCError(.failedPrecondition, .roomConflict) {
        _ = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: monday + 24 * hour, minutes: 30))
      }
      check.startMs = monday + 25 * hour
      check.endMs = monday + 26 * hour
      #expect(try await c.rooms.checkRoomAvailability(check).available)
    }
  }

  @Test("a series with one conflicting occurrence books nothing; a series keeps local time across DST; cancel one or the rest")
  func series() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c, timeZone: "America/New_York")
      let s = rs.staff
      // 2026-02-26 10:00 New York (15:00 UTC), weekly x6 across 2026-03-08.
      let start: Int64 = 1_772_118_000_000
      let blocker = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: start + 21 * 24 * hour - hour,
                                                    minutes: 50, practitioner: rs.secondPractitioner)).bookings[0]
      await expectRPCError(.failedPrecondition, .roomConflict) {
        _ = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: start, weekly: 6))
      }
      var list = Practice_V1_ListRoomBookingsRequest()
      list.accountID = s.account
      list.roomID = rs.room
      #expect(try await c.rooms.listRoomBookings(list).bookings.map(\.bookingID) == [blocker.bookingID])

      var cancel = Practice_V1_CancelRoomBookingRequest()
      cancel.accountID = s.account
      cancel.bookingID = blocker.bookingID
      _ = try await c.rooms.cancelRoomBooking(cancel)
      let series = try await c.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: start, weekly: 6)).bookings
      #expect(series.count == 6 && Set(series.map(\.seriesID)).count == 1 && series.map(\.occurrence) == [1, 2, 3, 4, 5, 6])
      var cal = Calendar(identifier: .gregorian)
      cal.timeZone = TimeZone(identifier: "America/New_York")!
      for b in series {
        let local = cal.dateComponents([.hour, .minute], from: Date(timeIntervalSince1970: Double(b.startMs) / 1000))
        #expect(local.hour == 10 && local.minute == 0)
      }
      #expect(series[2].startMs - series[1].startMs == 7 * 24 * hour - hour)

      cancel.bookingID = series[1].bookingID
      #expect(try await c.rooms.cancelRoomBooking(cancel).cancelled.map(\.bookingID) == [series[1].bookingID])
      cancel.bookingID = series[3].bookingID
      cancel.restOfSeries = true
      #expect(try await c.rooms.cancelRoomBooking(cancel).cancelled.map(\.occurrence) == [4, 5, 6])
      #expect(try await c.rooms.listRoomBookings(list).bookings.map(\.occurrence) == [1, 3])
      list.includeCancelled = true
      list.pageSize = 3
      var pages: [[Practice_V1_RoomBooking]] = []
      repeat {
        let page = try await c.rooms.listRoomBookings(list)
        pages.append(page.bookings)
        list.pageToken = page.nextPageToken
      } while !list.pageToken.isEmpty
      #expect(pages.map(\.count) == [3, 3, 1])
      let all = pages.flatMap { $0 }
      #expect(all.map(\.startMs) == all.map(\.startMs).sorted() && Set(all.map(\.bookingID)).count == 7)
    }
  }

  @Test("concurrent bookings of the same room and time: exactly one succeeds without override")
  func concurrentDoubleBooking() async throws {
    try await withServices { d in
      let setup = try await d.connect()
      let rs = try await RoomSetup.make(setup)
      let results = try await withThrowingTaskGroup(of: Bool.self) { group in
        for i in 0..<16 {
          group.addTask {
            let c = try await d.connect()
            defer { Task { await c.close() } }
            do {
              _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday, ref: "appt-\(i)"))
              return true
            } catch let e as RPCError where e.reason == .roomConflict {
              return false
            }
          }
        }
        return try await group.reduce(into: [Bool]()) { $0.append($1) }
      }
      #expect(results.filter { $0 }.count == 1)
      var list = Practice_V1_ListRoomBookingsRequest()
      list.accountID = rs.staff.account
      list.roomID = rs.room
      #expect(try await setup.rooms.listRoomBookings(list).bookings.count == 1)
    }
  }

  @Test("practitioners book for themselves; schedulers for anyone; archiving a room with future bookings is refused")
  func rolesAndArchive() async throws {
    try await withServices { d in
      let op = try await d.connect()
      let rs = try await RoomSetup.make(op)
      let s = rs.staff
      let svc = try await d.connect(as: .service)
      let future = monday + 24 * hour * 365 * 10
      let own = try await svc.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: future), options: .init(actor: s.practitioner))
      #expect(own.bookings.count == 1)
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: future + hour, practitioner: rs.secondPractitioner),
                                         options: .init(actor: s.practitioner))
      }
      _ = try await svc.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: future + hour, practitioner: rs.secondPractitioner),
                                       options: .init(actor: s.scheduler))
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: future + 2 * hour), options: .init(actor: s.biller))
      }
      var cancel = Practice_V1_CancelRoomBookingRequest()
      cancel.accountID = s.account
      cancel.bookingID = own.bookings[0].bookingID
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.rooms.cancelRoomBooking(cancel, options: .init(actor: rs.secondPractitioner))
      }

      var archive = Practice_V1_ArchiveRoomRequest()
      archive.accountID = s.account
      archive.roomID = rs.room
      await expectRPCError(.failedPrecondition, .roomHasFutureBookings) { _ = try await op.rooms.archiveRoom(archive) }
      var list = Practice_V1_ListRoomBookingsRequest()
      list.accountID = s.account
      list.roomID = rs.room
      for b in try await op.rooms.listRoomBookings(list).bookings {
        cancel.bookingID = b.bookingID
        _ = try await op.rooms.cancelRoomBooking(cancel)
      }
      #expect(try await op.rooms.archiveRoom(archive).room.archived)
      await expectRPCError(.failedPrecondition, .roomArchived) {
        _ = try await op.rooms.bookRoom(book(s, room: rs.room, location: rs.location, start: future))
      }
      // Existing rooms stay when practitioners drop to one.
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = s.account
      deactivate.userID = rs.secondPractitioner
      _ = try await op.accounts.deactivateUser(deactivate)
      var get = Practice_V1_GetRoomRequest()
      get.accountID = s.account
      get.roomID = rs.room
      #expect(try await op.rooms.getRoom(get).room.roomID == rs.room)
    }
  }
}
