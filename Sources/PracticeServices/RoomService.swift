import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// practice.v1.RoomService: rooms, bookings, conflicts and their override.
struct RoomService: RoomServiceHandler {
  let env: ServiceEnvironment
  var mutations: Mutations { Mutations(env: env) }
  var reads: Reads { Reads(env: env) }


  static func load(_ r: any StoreReader, _ account: String, _ id: String) throws -> Practice_V1_Room {
    guard let room = try r.room(account: account, id: id) else { throw RPCError.notFound("room \(id)") }
    return room
  }

  /// Writes a changed room: the next version, its audit event and change event.
  static func save(_ mc: MutationContext, before: Practice_V1_Room, after: Practice_V1_Room) throws -> Practice_V1_Room {
    var r = after
    r.version = before.version + 1
    r.updatedAtMs = mc.nowMs
    try mc.writer.putRoom(r)
    try mc.record(account: r.accountID, .room, id: r.roomID, version: r.version, .updated, before: before, after: r)
    return r
  }

  /// Every location id names an active location of the account.
  static func checkLocations(_ r: any StoreReader, _ account: String, _ ids: [String]) throws {
    var v = Violations()
    for id in ids {
      guard let l = try r.location(account: account, id: id) else {
        v.add("room.location_ids", "\(id) is not a location of the account")
        continue
      }
      if l.archived { v.add("room.location_ids", "\(id) is archived") }
    }
    try v.check()
  }

  func createRoom(_ req: Practice_V1_CreateRoomRequest, context ctx: CallContext) async throws
    -> Practice_V1_CreateRoomResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      var room = req.room
      try RoomRules.validateRoom(room)
      let users = try mc.writer.users(account: req.accountID, after: nil, limit: Int.max, includeInactive: false)
      guard AccountRules.activePractitioners(users) > 1 else {
        throw RPCError.failedPrecondition(
          .roomsNeedTwoPractitioners, "rooms need an account with more than one active practitioner")
      }
      try Self.checkLocations(mc.writer, req.accountID, room.locationIds)
      room.accountID = req.accountID
      room.roomID = IDs.make("room")
      room.archived = false
      room.version = 1
      room.createdAtMs = mc.nowMs
      room.updatedAtMs = mc.nowMs
      try mc.writer.putRoom(room)
      try mc.record(account: req.accountID, .room, id: room.roomID, version: 1, .created, before: nil, after: room)
      var resp = Practice_V1_CreateRoomResponse()
      resp.room = room
      return resp
    }
  }

  func getRoom(_ req: Practice_V1_GetRoomRequest, context ctx: CallContext) async throws -> Practice_V1_GetRoomResponse {
    try requireID(req.accountID, "account_id")
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      var resp = Practice_V1_GetRoomResponse()
      resp.room = try Self.load(r, req.accountID, req.roomID)
      return resp
    }
  }

  func listRooms(_ req: Practice_V1_ListRoomsRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListRoomsResponse
  {
    try requireID(req.accountID, "account_id")
    let scope = "rooms:\(req.accountID):\(req.locationID)" + (req.includeArchived ? "+archived" : "")
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      let items = try r.rooms(account: req.accountID, after: page.after, limit: page.size + 1,
                              includeArchived: req.includeArchived, locationID: req.locationID.isEmpty ? nil : req.locationID)
      let (rooms, next) = page.page(items, key: \.roomID, scope: scope)
      var resp = Practice_V1_ListRoomsResponse()
      resp.rooms = rooms
      resp.nextPageToken = next
      return resp
    }
  }

  func updateRoom(_ req: Practice_V1_UpdateRoomRequest, context ctx: CallContext) async throws
    -> Practice_V1_UpdateRoomResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.roomID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the room")
      let mask = try UpdateMask(req.updateMask, allowed: RoomRules.maskFields)
      var updated = current
      if mask.covers("name") { updated.name = req.room.name }
      if mask.covers("location_ids") { updated.locationIds = req.room.locationIds }
      try RoomRules.validateRoom(updated)
      var resp = Practice_V1_UpdateRoomResponse()
      if updated == current {
        resp.room = current
        return resp
      }
      if current.archived { throw RPCError.failedPrecondition(.roomArchived, "an archived room can't be changed") }
      if mask.covers("location_ids") { try Self.checkLocations(mc.writer, req.accountID, updated.locationIds) }
      resp.room = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  func archiveRoom(_ req: Practice_V1_ArchiveRoomRequest, context ctx: CallContext) async throws
    -> Practice_V1_ArchiveRoomResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.roomID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the room")
      var resp = Practice_V1_ArchiveRoomResponse()
      if current.archived {
        resp.room = current
        return resp
      }
      let future = try mc.writer.activeBookingCount(account: current.accountID, room: current.roomID, endingAfterMs: mc.nowMs)
      if future > 0 {
        throw RPCError.failedPrecondition(
          .roomHasFutureBookings, "the room has \(future) future active booking(s); cancel them first")
      }
      var updated = current
      updated.archived = true
      resp.room = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  /// Undoes ArchiveRoom: the same room, bookable again, under the limits of creating one (more than one
  /// active practitioner; its locations active).
  func unarchiveRoom(_ req: Practice_V1_UnarchiveRoomRequest, context ctx: CallContext) async throws
    -> Practice_V1_UnarchiveRoomResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let current = try Self.load(mc.writer, req.accountID, req.roomID)
      try checkVersion(req.expectedVersion, current: current.version, what: "the room")
      var resp = Practice_V1_UnarchiveRoomResponse()
      guard current.archived else {
        resp.room = current
        return resp
      }
      let users = try mc.writer.users(account: req.accountID, after: nil, limit: Int.max, includeInactive: false)
      guard AccountRules.activePractitioners(users) > 1 else {
        throw RPCError.failedPrecondition(
          .roomsNeedTwoPractitioners, "rooms need an account with more than one active practitioner")
      }
      try Self.checkLocations(mc.writer, req.accountID, current.locationIds)
      var updated = current
      updated.archived = false
      resp.room = try Self.save(mc, before: current, after: updated)
      return resp
    }
  }

  /// The conflicts of each proposed occurrence, in occurrence order, without duplicates.
  static func conflicts(_ r: any StoreReader, room: Practice_V1_Room, _ occurrences: [(start: Int64, end: Int64)]) throws
    -> [Practice_V1_RoomBooking]
  {
    var seen = Set<String>()
    var out: [Practice_V1_RoomBooking] = []
    for o in occurrences {
      for b in try r.conflicts(account: room.accountID, room: room.roomID, startMs: o.start, endMs: o.end) where seen.insert(b.bookingID).inserted {
        out.append(b)
      }
    }
    return out
  }

  /// The checks a booking's place gets, new or moved: the room not archived, applying to the location,
  /// the location active. `field` names the request field a mismatch is reported on.
  static func checkPlace(
    _ r: any StoreReader, room: Practice_V1_Room, locationID: String, field: String, _ v: inout Violations
  ) throws {
    if room.archived { throw RPCError.failedPrecondition(.roomArchived, "the room is archived") }
    if !room.locationIds.contains(locationID) {
      v.add(field, "the room does not apply to the location \(locationID)")
    } else if let l = try r.location(account: room.accountID, id: locationID), l.archived {
      v.add("location_id", "the location is archived")
    }
  }

  /// The conflicts of the intervals in `room`, leaving out the bookings `ignoring` (those being
  /// moved). Under the account's policy they refuse the call (`ROOM_CONFLICT`) unless it may and does
  /// override them; returns the overridden ones.
  static func checkConflicts(
    _ r: any StoreReader, account: Practice_V1_Account, room: Practice_V1_Room,
    _ intervals: [(start: Int64, end: Int64)], ignoring: Set<String>, override: Bool
  ) throws -> [Practice_V1_RoomBooking] {
    let found = try conflicts(r, room: room, intervals).filter { !ignoring.contains($0.bookingID) }
    if !found.isEmpty {
      let blocked = account.settings.roomConflictPolicy == .block
      if blocked || !override { throw conflictError(found, blocked: blocked) }
    }
    return found
  }

  /// A booking, or it and the later bookings of its series.
  static func targets(_ r: any StoreReader, _ booking: Practice_V1_RoomBooking, restOfSeries: Bool) throws
    -> [Practice_V1_RoomBooking]
  {
    restOfSeries && !booking.seriesID.isEmpty ? try r.series(booking.seriesID, fromOccurrence: booking.occurrence) : [booking]
  }

  static func conflictError(_ conflicts: [Practice_V1_RoomBooking], blocked: Bool) -> RPCError {
    var detail = Practice_V1_RoomConflictDetail()
    detail.conflicts = conflicts
    let why = blocked ? "the account's policy is BLOCK" : "set override to book anyway"
    return RPCError.failedPrecondition(
      .roomConflict, "the room is booked at that time (\(conflicts.count) conflicting booking(s)); \(why)",
      detail: (try? detail.serializedData()) ?? Data())
  }

  func bookRoom(_ req: Practice_V1_BookRoomRequest, context ctx: CallContext) async throws
    -> Practice_V1_BookRoomResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let account = mc.account!
      let room = try Self.load(mc.writer, req.accountID, req.roomID)
      var v = Violations()
      try Self.checkPlace(mc.writer, room: room, locationID: req.locationID, field: "location_id", &v)
      let practitioner = try mc.writer.user(account: req.accountID, id: req.practitionerUserID)
      if practitioner == nil || !practitioner!.active || !practitioner!.roleSet.contains(.practitioner) {
        v.add("practitioner_user_id", "must be an active PRACTITIONER of the account")
      }
      if req.appointmentRef.utf8.count > 128 { v.add("appointment_ref", "must be at most 128 bytes") }
      try v.check()
      if !mc.actor.isOperator && !mc.actor.roles.mayBook(for: req.practitionerUserID, selfUserID: mc.actor.userID) {
        throw RPCError.permissionDenied(.roleRequired, "a PRACTITIONER books rooms only for themselves")
      }
      let weekly: Practice_V1_WeeklyRecurrence? = {
        if case .weekly(let w)? = req.recurrencePresence { return w }
        return nil
      }()
      let occurrences = try RoomRules.occurrences(
        startMs: req.startMs, endMs: req.endMs, weekly: weekly, timeZone: account.settings.timeZone)
      let conflicts = try Self.checkConflicts(
        mc.writer, account: account, room: room, occurrences, ignoring: [], override: req.override)
      let seriesID = occurrences.count > 1 ? IDs.make("series") : ""
      var resp = Practice_V1_BookRoomResponse()
      for (i, o) in occurrences.enumerated() {
        var b = Practice_V1_RoomBooking()
        b.bookingID = IDs.make("bk")
        b.accountID = req.accountID
        b.roomID = room.roomID
        b.locationID = req.locationID
        b.practitionerUserID = req.practitionerUserID
        b.startMs = o.start
        b.endMs = o.end
        b.appointmentRef = req.appointmentRef
        b.status = .active
        b.seriesID = seriesID
        b.occurrence = Int32(i + 1)
        let own = conflicts.filter { RoomRules.overlaps(($0.startMs, $0.endMs), o) }
        b.overridden = !own.isEmpty
        b.version = 1
        b.createdAtMs = mc.nowMs
        try mc.writer.putBooking(b)
        let note = own.isEmpty ? "" : "override of conflicting booking(s) " + own.map(\.bookingID).joined(separator: ", ")
        try mc.record(account: req.accountID, .roomBooking, id: b.bookingID, version: 1, .created,
                      before: nil, after: b, note: note)
        resp.bookings.append(b)
      }
      resp.overriddenConflicts = conflicts
      return resp
    }
  }

  func moveRoomBooking(_ req: Practice_V1_MoveRoomBookingRequest, context ctx: CallContext) async throws
    -> Practice_V1_MoveRoomBookingResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.bookingID, "booking_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      let account = mc.account!
      guard let booking = try mc.writer.booking(account: req.accountID, id: req.bookingID) else {
        throw RPCError.notFound("booking \(req.bookingID)")
      }
      if !mc.actor.isOperator && !mc.actor.roles.mayBook(for: booking.practitionerUserID, selfUserID: mc.actor.userID) {
        throw RPCError.permissionDenied(.roleRequired, "a PRACTITIONER moves only their own bookings")
      }
      guard booking.status == .active else {
        throw RPCError.failedPrecondition(.bookingCancelled, "a cancelled booking can't be moved")
      }
      // The bookings that move: this one, or it and the later active ones of its series.
      let moving = try Self.targets(mc.writer, booking, restOfSeries: req.restOfSeries).filter { $0.status == .active }
      let room = try Self.load(mc.writer, req.accountID, req.roomID.isEmpty ? booking.roomID : req.roomID)
      let locationID = req.locationID.isEmpty ? booking.locationID : req.locationID
      var v = Violations()
      try Self.checkPlace(
        mc.writer, room: room, locationID: locationID, field: req.locationID.isEmpty ? "room_id" : "location_id", &v)
      try v.check()
      let newStart = req.startMs == 0 ? booking.startMs : req.startMs
      let newEnd = req.endMs == 0 ? newStart + (booking.endMs - booking.startMs) : req.endMs
      let targets = try RoomRules.moved(
        moving.map { ($0.startMs, $0.endMs) }, newStartMs: newStart, newEndMs: newEnd,
        timeZone: account.settings.timeZone)
      // Checked like a new booking, ignoring the bookings being moved.
      let conflicts = try Self.checkConflicts(
        mc.writer, account: account, room: room, targets, ignoring: Set(moving.map(\.bookingID)), override: req.override)
      var resp = Practice_V1_MoveRoomBookingResponse()
      for (before, target) in zip(moving, targets) {
        var b = before
        b.roomID = room.roomID
        b.locationID = locationID
        b.startMs = target.start
        b.endMs = target.end
        let own = conflicts.filter { RoomRules.overlaps(($0.startMs, $0.endMs), target) }
        b.overridden = !own.isEmpty
        b.version += 1
        try mc.writer.putBooking(b)
        let note = own.isEmpty ? "moved" : "moved, override of conflicting booking(s) " + own.map(\.bookingID).joined(separator: ", ")
        try mc.record(account: req.accountID, .roomBooking, id: b.bookingID, version: b.version, .updated,
                      before: before, after: b, note: note)
        resp.bookings.append(b)
      }
      resp.overriddenConflicts = conflicts
      return resp
    }
  }

  func cancelRoomBooking(_ req: Practice_V1_CancelRoomBookingRequest, context ctx: CallContext) async throws
    -> Practice_V1_CancelRoomBookingResponse
  {
    try requireID(req.accountID, "account_id")
    return try await mutations.run(ctx, req, accountID: req.accountID) { mc in
      guard let booking = try mc.writer.booking(account: req.accountID, id: req.bookingID) else {
        throw RPCError.notFound("booking \(req.bookingID)")
      }
      if !mc.actor.isOperator && !mc.actor.roles.mayBook(for: booking.practitionerUserID, selfUserID: mc.actor.userID) {
        throw RPCError.permissionDenied(.roleRequired, "a PRACTITIONER cancels only their own bookings")
      }
      let targets = try Self.targets(mc.writer, booking, restOfSeries: req.restOfSeries)
      var resp = Practice_V1_CancelRoomBookingResponse()
      for var b in targets where b.status == .active {
        let before = b
        b.status = .cancelled
        b.version += 1
        try mc.writer.putBooking(b)
        try mc.record(account: req.accountID, .roomBooking, id: b.bookingID, version: b.version, .updated,
                      before: before, after: b)
        resp.cancelled.append(b)
      }
      return resp
    }
  }

  func listRoomBookings(_ req: Practice_V1_ListRoomBookingsRequest, context ctx: CallContext) async throws
    -> Practice_V1_ListRoomBookingsResponse
  {
    try requireID(req.accountID, "account_id")
    try requireID(req.roomID, "room_id")
    let to = req.toMs == 0 ? Int64.max : req.toMs
    if to <= req.fromMs { throw RPCError.invalidArgument(field: "to_ms", "must be after from_ms") }
    let scope = "bookings:\(req.accountID):\(req.roomID):\(req.fromMs):\(req.toMs)" + (req.includeCancelled ? "+c" : "")
    let page = try PageRequest(size: req.pageSize, token: req.pageToken, scope: scope)
    let after: (Int64, String)? = try page.after.map { key in
      let parts = key.split(separator: "/", maxSplits: 1)
      guard parts.count == 2, let start = Int64(parts[0]) else {
        throw RPCError.invalidArgument(field: "page_token", "is not a page token of this list")
      }
      return (start, String(parts[1]))
    }
    return try await reads.run(ctx, accountID: req.accountID) { r, _ in
      _ = try Self.load(r, req.accountID, req.roomID)
      let items = try r.bookings(account: req.accountID, room: req.roomID, fromMs: req.fromMs, toMs: to, after: after,
                                 limit: page.size + 1, includeCancelled: req.includeCancelled)
      let (bookings, next) = page.page(items, key: { "\($0.startMs)/\($0.bookingID)" }, scope: scope)
      var resp = Practice_V1_ListRoomBookingsResponse()
      resp.bookings = bookings
      resp.nextPageToken = next
      return resp
    }
  }

  /// A single occurrence is one bounded index search, answered on the connection's thread
  /// (`Services.makeDispatcher`). A weekly series is one search per occurrence: it leaves that thread
  /// first, so that it does not hold up the connections that share it.
  func checkRoomAvailability(_ req: Practice_V1_CheckRoomAvailabilityRequest, context ctx: CallContext) async throws
    -> Practice_V1_CheckRoomAvailabilityResponse
  {
    try requireID(req.accountID, "account_id")
    if case .weekly? = req.recurrencePresence { await ctx.leaveConnectionThread() }
    return try await reads.run(ctx, accountID: req.accountID, needsDatabase: true) { r, _ in
      try Self.availability(r, req)
    }
  }

  /// The room a check is for and the occurrences it checks (the request's rules applied).
  static func checked(_ r: any StoreReader, _ req: Practice_V1_CheckRoomAvailabilityRequest) throws
    -> (room: Practice_V1_Room, occurrences: [(start: Int64, end: Int64)])
  {
    guard let account = try r.account(req.accountID) else { throw RPCError.notFound("account \(req.accountID)") }
    let room = try load(r, req.accountID, req.roomID)
    let weekly: Practice_V1_WeeklyRecurrence? = {
      if case .weekly(let w)? = req.recurrencePresence { return w }
      return nil
    }()
    let occurrences = try RoomRules.occurrences(
      startMs: req.startMs, endMs: req.endMs, weekly: weekly, timeZone: account.settings.timeZone)
    return (room, occurrences)
  }

  static func availability(_ r: any StoreReader, _ req: Practice_V1_CheckRoomAvailabilityRequest) throws
    -> Practice_V1_CheckRoomAvailabilityResponse
  {
    let (room, occurrences) = try checked(r, req)
    var resp = Practice_V1_CheckRoomAvailabilityResponse()
    resp.conflicts = try conflicts(r, room: room, occurrences)
    resp.available = resp.conflicts.isEmpty
    return resp
  }
}
