import Foundation
import PracticeCore
import PracticeProto
import PracticeStore
import PracticeTestSupport
import SwiftProtobuf
import Testing

/// PRODUCT.md's rules that changed after the first release (issue 19's rule fixes), each a bug a
/// practice could hit before.
@Suite("Rule fixes", .serialized)
struct RuleFixTests {
  @Test("grace ends when no FAILED invoice is left: an invoice issued during grace does not extend it")
  func graceEndsWithTheFailedInvoice() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await payingAccount(c, "Pays Late")
      // The first invoice fails on Mar 1 (grace until Mar 8); the next is issued on Mar 5, during grace.
      try await advance(c, to: "2030-03-01T12:00:00Z")
      let first = try #require(try await invoices(c, a).last)
      var pay = Practice_V1_RecordPaymentRequest()
      pay.accountID = a
      pay.invoiceID = first.invoiceID
      pay.paid = false
      pay.processorReference = "ch_failed"
      _ = try await c.billing.recordPayment(pay)
      try await advance(c, to: "2030-03-06T12:00:00Z")
      let all = try await invoices(c, a)
      #expect(all.contains { $0.status == .open }, "an invoice issued during grace")
      // Paying the failed invoice ends the grace, though the new invoice is still open.
      pay.paid = true
      pay.processorReference = "ch_ok"
      _ = try await c.billing.recordPayment(pay)
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = a
      #expect(try await c.billing.getSubscription(sub).subscription.graceEndsAtMs == 0)
      try await advance(c, to: "2030-03-10T12:00:00Z")
      #expect(try await state(c, a).state == .active)
    }
  }

  @Test("CloseAccount confirms a practice name stored with surrounding spaces, and compares in NFC")
  func confirmationTrimsBothSides() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let id = try await c.accounts.createAccount(Make.account("  Cafe\u{301} Therapy ", email: "")).account.accountID
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = id
      close.confirmPracticeName = "Café Therapy"  // typed precomposed, stored decomposed and padded
      #expect(try await c.accounts.closeAccount(close).account.state == .closed)
      let other = try await c.accounts.createAccount(Make.account("Harbor Therapy", email: "")).account.accountID
      close.accountID = other
      close.confirmPracticeName = "Harbor  Therapy"
      await expectRPCError(.failedPrecondition, .confirmationMismatch) { _ = try await c.accounts.closeAccount(close) }
    }
  }

  @Test("an owner who closes during the trial and reopens is on TRIAL with the same trial end; after it, as after expiry")
  func reopenDuringTrial() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await c.accounts.createAccount(Make.account("Trying", email: "")).account.accountID
      let b = try await c.accounts.createAccount(Make.account("Waits", email: "")).account.accountID
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = a
      let trialEnd = try await c.billing.getSubscription(sub).subscription.trialEndsAtMs
      // Both close during the trial, 20 days in (the trial is 30 days, retention 30 days).
      try await advance(c, days: 20)
      for id in [a, b] {
        var close = Practice_V1_CloseAccountRequest()
        close.accountID = id
        close.confirmPracticeName = id == a ? "Trying" : "Waits"
        _ = try await c.accounts.closeAccount(close)
      }
      try await advance(c, days: 2)
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = a
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)
      let after = try await c.billing.getSubscription(sub).subscription
      #expect(after.plan == .trial && after.trialEndsAtMs == trialEnd)
      // Past the trial's end (and inside retention), reopening needs what reopening after trial expiry
      // needs: a card.
      try await advance(c, days: 15)
      reopen.accountID = b
      await expectRPCError(.failedPrecondition, .paymentMethodRequired) { _ = try await c.accounts.reopenAccount(reopen) }
      _ = try await c.billing.setPaymentMethod(card(b))
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)
      sub.accountID = b
      #expect(try await c.billing.getSubscription(sub).subscription.plan != .trial)
    }
  }

  @Test("a card number sent as processor_token is refused like any card number, and never stored")
  func cardNumberAsToken() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let id = try await c.accounts.createAccount(Make.account("Tokens", email: "")).account.accountID
      let refused = await expectRPCError(.invalidArgument, .cardNumberRefused) {
        _ = try await c.billing.setPaymentMethod(card(id, token: "4242 4242 4242 4242"))
      }
      #expect(refused?.violations.map(\.field) == ["payment_method.processor_token"])
      #expect(!(refused?.message.contains("4242") ?? true))
      var sub = Practice_V1_GetSubscriptionRequest()
      sub.accountID = id
      #expect(try await c.billing.getSubscription(sub).subscription.paymentMethodPresence == nil)
      _ = try await c.billing.setPaymentMethod(card(id, token: "tok_live_9f8e7d"))
    }
  }

  @Test("ReportUsage and the purge move the change sequence: a watcher sees both")
  func everyChangeMovesTheSequence() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      _ = try await c.billing.changePlan(plan(s.account, .freemium))
      let before = try await state(c, s.account).changeSequence
      var usage = Practice_V1_ReportUsageRequest()
      usage.accountID = s.account
      usage.periodStart = "2030-01-05"
      usage.activeClients = 3
      _ = try await c.billing.reportUsage(usage)
      #expect(try await state(c, s.account).changeSequence == before + 1)
      var watch = Practice_V1_WatchRequest()
      watch.accountID = s.account
      watch.afterSequence = before
      var seen: [Practice_V1_ChangeEvent] = []
      for try await e in try c.watch.watch(watch) {
        if e.synced { break }
        seen.append(e.change)
      }
      #expect(seen.map(\.kind) == [.usage] && seen.first?.resourceID == "2030-01-05")

      // Closed, then purged after retention: the purge is a change too.
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = s.account
      close.confirmPracticeName = "Harbor Therapy"
      _ = try await c.accounts.closeAccount(close)
      let closedAt = try await state(c, s.account).changeSequence
      try await advance(c, days: 31)
      let purged = try await state(c, s.account)
      #expect(purged.state == .purged && purged.changeSequence == closedAt + 1)
    }
  }

  @Test("Watch sends the replay, then SYNCED, then live changes, in that order")
  func watchOrder() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let start = try await state(c, s.account).changeSequence
      _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[0]))
      _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[1]))
      var watch = Practice_V1_WatchRequest()
      watch.accountID = s.account
      watch.afterSequence = start
      var order: [String] = []
      var it = try c.watch.watch(watch).makeAsyncIterator()
      for _ in 0..<3 {
        let e = try #require(try await it.next())
        order.append(e.synced ? "SYNCED" : "replay \(e.change.sequence - start)")
      }
      _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[2]))
      let live = try #require(try await it.next())
      order.append(live.synced ? "SYNCED" : "live \(live.change.sequence - start)")
      #expect(order == ["replay 1", "replay 2", "SYNCED", "live 3"])
    }
  }
}

@Suite("Idempotency records expire")
struct IdempotencyExpiryTests {
  @Test("a key is remembered for 24 hours, then the scheduler expires its record and the key is free again")
  func expiry() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      let key = CallOptions(idempotencyKey: "settings-1")
      _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[0]), options: key)
      // The same key with another request is refused while the record is kept.
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[1]), options: key)
      }
      try await advance(c, days: 0.9)
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[1]), options: key)
      }
      try await advance(c, days: 0.2)
      let applied = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[1]), options: key)
      #expect(applied.account.settings.timeZone == zones[1])
    }
  }
}

@Suite("Idempotency records from before schema v5")
struct LegacyIdempotencyTests {
  @Test("a record that kept only a hash of the request replays its response to the same method; another method is refused")
  func legacy() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      // What v4 left: the method and the response, no request bytes (its SHA-256 is not comparable).
      var recorded = Practice_V1_AddUserResponse()
      recorded.user.userID = "user_recorded"
      recorded.user.name = "Recorded"
      var envelope = Practice_Rpc_V1_Response()
      envelope.status = Practice_Rpc_V1_Status()
      envelope.payload = try recorded.serializedData()
      let response = try envelope.serializedData()
      try await d.env.store.write { w in
        try w.putIdempotency(IdempotencyRecord(
          scope: s.account, key: "legacy-1", method: "/practice.v1.AccountService/AddUser", request: nil,
          response: response, createdAtMs: 1))
      }
      let before = try await c.accounts.listUsers({ var r = Practice_V1_ListUsersRequest(); r.accountID = s.account; return r }())
      let replay = try await c.accounts.addUser(Make.user(s.account, "Anyone", roles: [.biller]),
                                                options: .init(idempotencyKey: "legacy-1"))
      #expect(replay.user.userID == "user_recorded")
      let after = try await c.accounts.listUsers({ var r = Practice_V1_ListUsersRequest(); r.accountID = s.account; return r }())
      #expect(after.users.count == before.users.count)  // nothing applied
      await expectRPCError(.failedPrecondition, .idempotencyKeyReused) {
        _ = try await c.accounts.updateAccountSettings(settingsChange(s.account, zones[0]), options: .init(idempotencyKey: "legacy-1"))
      }
    }
  }
}

@Suite("VoidInvoice")
struct VoidInvoiceTests {
  @Test("an operator voids an OPEN or FAILED invoice with a reason (audited); PAID can't be; a void invoice no longer blocks reopening")
  func void() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      _ = try await c.billing.changePlan(plan(s.account, .professional))
      try await advance(c, to: "2030-02-05T12:00:00Z")
      let invoice = try #require(try await invoices(c, s.account).first)
      var pay = Practice_V1_RecordPaymentRequest()
      pay.accountID = s.account
      pay.invoiceID = invoice.invoiceID
      pay.paid = false
      pay.processorReference = "ch_failed"
      _ = try await c.billing.recordPayment(pay)
      try await advance(c, days: 8)
      #expect(try await state(c, s.account).closeReason == .nonPayment)
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = s.account
      await expectRPCError(.failedPrecondition, .unpaidInvoice) { _ = try await c.accounts.reopenAccount(reopen) }

      var void = Practice_V1_VoidInvoiceRequest()
      void.accountID = s.account
      void.invoiceID = invoice.invoiceID
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.billing.voidInvoice(void) }
      void.reason = "charged twice by the processor; refunded"
      let svc = try await d.connect(as: .service)
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.billing.voidInvoice(void, options: .init(actor: s.owner))
      }
      let voided = try await c.billing.voidInvoice(void).invoice
      #expect(voided.status == .void && voided.voidReason == void.reason && voided.version == invoice.version + 2)
      #expect(try await c.billing.voidInvoice(void).invoice.version == voided.version)  // no-op
      let audited = try await auditEvents(c, s.account, method: "/practice.v1.BillingService/VoidInvoice")
      // The invoice's change, and the subscription's: its grace ended with the last FAILED invoice.
      #expect(audited.map(\.resourceKind) == [.invoice, .subscription] && audited.first?.note == "voided")
      #expect(try await c.accounts.reopenAccount(reopen).account.state == .active)

      // A PAID invoice can't be voided.
      try await advance(c, to: "2030-03-05T12:00:00Z")
      let next = try #require(try await invoices(c, s.account).first { $0.status == .open })
      pay.invoiceID = next.invoiceID
      pay.paid = true
      pay.processorReference = "ch_ok"
      _ = try await c.billing.recordPayment(pay)
      void.invoiceID = next.invoiceID
      await expectRPCError(.failedPrecondition, .invoiceSettled) { _ = try await c.billing.voidInvoice(void) }
    }
  }
}

@Suite("Undo: ReactivateUser, UnarchiveLocation, UnarchiveRoom")
struct UndoTests {
  @Test("a deactivated user comes back with the same id and history, within the plan's limit and the email rule")
  func reactivateUser() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      func setEmail(_ user: String, _ email: String) async throws {
        var u = Practice_V1_UpdateUserRequest()
        u.accountID = s.account
        u.userID = user
        u.updateMask = ["email"]
        u.user.email = email
        _ = try await c.accounts.updateUser(u)
      }
      try await setEmail(s.biller, "bill@harbor.example")
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = s.account
      deactivate.userID = s.biller
      let gone = try await c.accounts.deactivateUser(deactivate).user
      // Someone else took the email meanwhile: refused until it is free again.
      let other = try await c.accounts.addUser(Make.user(s.account, "Billie", email: "bill@harbor.example", roles: [.biller])).user
      var reactivate = Practice_V1_ReactivateUserRequest()
      reactivate.accountID = s.account
      reactivate.userID = s.biller
      await expectRPCError(.alreadyExists, .alreadyExists) { _ = try await c.accounts.reactivateUser(reactivate) }
      try await setEmail(other.userID, "billie@harbor.example")
      reactivate.expectedVersion = gone.version
      let back = try await c.accounts.reactivateUser(reactivate).user
      #expect(back.userID == s.biller && back.active && back.version == gone.version + 1)
      reactivate.expectedVersion = 0
      #expect(try await c.accounts.reactivateUser(reactivate).user.version == back.version)  // no-op
      let history = try await auditEvents(c, s.account).filter { $0.resourceID == s.biller }
      #expect(history.count >= 3)

      // FREEMIUM allows one active practitioner: a second one can't come back.
      var deactivatePractitioner = deactivate
      deactivatePractitioner.userID = s.practitioner
      _ = try await c.accounts.deactivateUser(deactivatePractitioner)
      _ = try await c.billing.changePlan(plan(s.account, .freemium))
      _ = try await c.accounts.addUser(Make.user(s.account, "Quinn", roles: [.practitioner]))  // the one allowed
      reactivate.userID = s.practitioner
      reactivate.expectedVersion = 0
      await expectRPCError(.failedPrecondition, .planLimit) { _ = try await c.accounts.reactivateUser(reactivate) }
    }
  }

  @Test("an archived location is active again, not the default; an archived room is bookable again under the rules of creating one")
  func unarchive() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      let second = try await c.locations.createLocation(office(rs.staff.account, "Annex")).location
      var archiveLocation = Practice_V1_ArchiveLocationRequest()
      archiveLocation.accountID = rs.staff.account
      archiveLocation.locationID = second.locationID
      _ = try await c.locations.archiveLocation(archiveLocation)
      var unarchiveLocation = Practice_V1_UnarchiveLocationRequest()
      unarchiveLocation.accountID = rs.staff.account
      unarchiveLocation.locationID = second.locationID
      let back = try await c.locations.unarchiveLocation(unarchiveLocation).location
      #expect(!back.archived && !back.isDefault && back.locationID == second.locationID)

      var archiveRoom = Practice_V1_ArchiveRoomRequest()
      archiveRoom.accountID = rs.staff.account
      archiveRoom.roomID = rs.room
      _ = try await c.rooms.archiveRoom(archiveRoom)
      await expectRPCError(.failedPrecondition, .roomArchived) {
        _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday))
      }
      // Rooms need more than one active practitioner: with one left, the room stays archived.
      var deactivate = Practice_V1_DeactivateUserRequest()
      deactivate.accountID = rs.staff.account
      deactivate.userID = rs.secondPractitioner
      _ = try await c.accounts.deactivateUser(deactivate)
      deactivate.userID = rs.staff.practitioner
      _ = try await c.accounts.deactivateUser(deactivate)
      var unarchiveRoom = Practice_V1_UnarchiveRoomRequest()
      unarchiveRoom.accountID = rs.staff.account
      unarchiveRoom.roomID = rs.room
      await expectRPCError(.failedPrecondition, .roomsNeedTwoPractitioners) {
        _ = try await c.rooms.unarchiveRoom(unarchiveRoom)
      }
      var reactivate = Practice_V1_ReactivateUserRequest()
      reactivate.accountID = rs.staff.account
      reactivate.userID = rs.secondPractitioner
      _ = try await c.accounts.reactivateUser(reactivate)
      await expectRPCError(.failedPrecondition, .roomsNeedTwoPractitioners) {
        _ = try await c.rooms.unarchiveRoom(unarchiveRoom)
      }
      reactivate.userID = rs.staff.practitioner
      _ = try await c.accounts.reactivateUser(reactivate)
      #expect(try await c.rooms.unarchiveRoom(unarchiveRoom).room.archived == false)
      _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday,
                                          practitioner: rs.secondPractitioner))
    }
  }
}

@Suite("Series every N weeks")
struct SeriesIntervalTests {
  @Test("a biweekly series books every other week, and the weeks between stay free")
  func biweekly() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      var req = book(rs.staff, room: rs.room, location: rs.location, start: monday, weekly: 3)
      req.weekly.intervalWeeks = 2
      let booked = try await c.rooms.bookRoom(req).bookings
      let week: Int64 = 7 * 24 * hour
      #expect(booked.map { $0.startMs - monday } == [0, 2 * week, 4 * week])
      // The week in between is free for another booking.
      let between = book(rs.staff, room: rs.room, location: rs.location, start: monday + week,
                         practitioner: rs.secondPractitioner)
      #expect(try await c.rooms.bookRoom(between).overriddenConflicts.isEmpty)
      req.weekly.intervalWeeks = 5
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await c.rooms.bookRoom(req) }
    }
  }
}

@Suite("MoveRoomBooking")
struct MoveRoomBookingTests {
  @Test("one occurrence moves in time and room, keeping its id and reference; checked like a booking but ignoring itself")
  func moveOne() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      var room2 = Practice_V1_CreateRoomRequest()
      room2.accountID = rs.staff.account
      room2.room.name = "Room 2"
      room2.room.locationIds = [rs.location]
      let other = try await c.rooms.createRoom(room2).room.roomID
      let a = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday, ref: "appt-1"))
        .bookings[0]
      // Overlapping itself is no conflict: 10:00-10:50 to 10:30-11:20.
      var move = Practice_V1_MoveRoomBookingRequest()
      move.accountID = rs.staff.account
      move.bookingID = a.bookingID
      move.startMs = monday + 30 * 60_000
      let shifted = try await c.rooms.moveRoomBooking(move).bookings
      #expect(shifted.count == 1 && shifted[0].bookingID == a.bookingID && shifted[0].appointmentRef == "appt-1")
      #expect(shifted[0].startMs == monday + 30 * 60_000 && shifted[0].endMs == monday + 80 * 60_000)
      #expect(shifted[0].version == a.version + 1)
      // Onto another booking: refused (WARN without override), nothing changes; with override it moves.
      let b = try await c.rooms.bookRoom(book(rs.staff, room: other, location: rs.location, start: monday + 2 * hour,
                                              practitioner: rs.secondPractitioner)).bookings[0]
      move.roomID = other
      move.startMs = monday + 2 * hour
      await expectRPCError(.failedPrecondition, .roomConflict) { _ = try await c.rooms.moveRoomBooking(move) }
      var get = Practice_V1_ListRoomBookingsRequest()
      get.accountID = rs.staff.account
      get.roomID = rs.room
      #expect(try await c.rooms.listRoomBookings(get).bookings.map(\.startMs) == [monday + 30 * 60_000])
      move.override = true
      let over = try await c.rooms.moveRoomBooking(move)
      #expect(over.bookings[0].roomID == other && over.bookings[0].overridden && over.overriddenConflicts.map(\.bookingID) == [b.bookingID])
      #expect(try await c.rooms.listRoomBookings(get).bookings.isEmpty)

      // A practitioner moves only their own bookings.
      let svc = try await d.connect(as: .service)
      move.override = false
      move.startMs = monday + 5 * hour
      await expectRPCError(.permissionDenied, .roleRequired) {
        _ = try await svc.rooms.moveRoomBooking(move, options: .init(actor: rs.secondPractitioner))
      }
    }
  }

  @Test("under BLOCK a move onto another booking is refused even with override")
  func blockPolicy() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c, policy: .block)
      let a = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday)).bookings[0]
      _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday + 2 * hour,
                                          practitioner: rs.secondPractitioner))
      var move = Practice_V1_MoveRoomBookingRequest()
      move.accountID = rs.staff.account
      move.bookingID = a.bookingID
      move.startMs = monday + 2 * hour
      move.override = true
      await expectRPCError(.failedPrecondition, .roomConflict) { _ = try await c.rooms.moveRoomBooking(move) }
    }
  }

  @Test("a long booking moved to another room is found by that room's conflict search (the room learns its length)")
  func longBookingChangesRoom() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      var room2 = Practice_V1_CreateRoomRequest()
      room2.accountID = rs.staff.account
      room2.room.name = "Room 2"
      room2.room.locationIds = [rs.location]
      let other = try await c.rooms.createRoom(room2).room.roomID
      // Room 2 has only had a 50-minute booking; a 20-hour one moves in from room 1.
      _ = try await c.rooms.bookRoom(book(rs.staff, room: other, location: rs.location, start: monday - 48 * hour))
      let long = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday,
                                                 minutes: 20 * 60)).bookings[0]
      var move = Practice_V1_MoveRoomBookingRequest()
      move.accountID = rs.staff.account
      move.bookingID = long.bookingID
      move.roomID = other
      _ = try await c.rooms.moveRoomBooking(move)
      var check = Practice_V1_CheckRoomAvailabilityRequest()
      check.accountID = rs.staff.account
      check.roomID = other
      check.startMs = monday + 19 * hour
      check.endMs = monday + 19 * hour + 30 * 60_000
      #expect(try await c.rooms.checkRoomAvailability(check).conflicts.map(\.bookingID) == [long.bookingID])
    }
  }

  @Test("an occurrence and the rest of its series move together, all or nothing")
  func moveSeries() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c, timeZone: "America/New_York")
      let series = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday, weekly: 4))
        .bookings
      // A booking in the way of the fourth occurrence, one hour later.
      let week: Int64 = 7 * 24 * hour
      _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: monday + 3 * week + hour,
                                          practitioner: rs.secondPractitioner))
      var move = Practice_V1_MoveRoomBookingRequest()
      move.accountID = rs.staff.account
      move.bookingID = series[1].bookingID
      move.restOfSeries = true
      move.startMs = series[1].startMs + hour
      await expectRPCError(.failedPrecondition, .roomConflict) { _ = try await c.rooms.moveRoomBooking(move) }
      var list = Practice_V1_ListRoomBookingsRequest()
      list.accountID = rs.staff.account
      list.roomID = rs.room
      let untouched = try await c.rooms.listRoomBookings(list).bookings.filter { $0.seriesID == series[0].seriesID }
      #expect(untouched.map(\.startMs) == series.map(\.startMs))
      move.startMs = series[1].startMs + 2 * hour
      let moved = try await c.rooms.moveRoomBooking(move).bookings
      #expect(moved.map(\.bookingID) == series[1...].map(\.bookingID))
      #expect(zip(moved, series[1...]).allSatisfy { $0.startMs - $1.startMs == 2 * hour })
    }
  }

  @Test("a move racing a BookRoom for the same target slot: exactly one of them gets it; the freed slot is free")
  func race() async throws {
    try await withServices { d in
      let c = try await d.connect()
      let rs = try await RoomSetup.make(c)
      for round in 0..<10 {
        let base = monday + Int64(round) * 24 * hour
        let a = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: base)).bookings[0]
        var move = Practice_V1_MoveRoomBookingRequest()
        move.accountID = rs.staff.account
        move.bookingID = a.bookingID
        move.startMs = base + 2 * hour
        let competitor = book(rs.staff, room: rs.room, location: rs.location, start: base + 2 * hour,
                              practitioner: rs.secondPractitioner)
        async let moved: Bool = { (try? await c.rooms.moveRoomBooking(move)) != nil }()
        async let booked: Bool = { (try? await c.rooms.bookRoom(competitor)) != nil }()
        let (m, b) = await (moved, booked)
        #expect(m != b, "round \(round): move \(m), book \(b)")
        // The slot the booking left (when it moved) takes a new booking.
        if m {
          _ = try await c.rooms.bookRoom(book(rs.staff, room: rs.room, location: rs.location, start: base,
                                              practitioner: rs.secondPractitioner))
        }
      }
    }
  }
}

@Suite("Lifecycle dates and notices")
struct LifecycleNoticeTests {
  @Test("GetAccount and GetSubscription tell the trial end; NOTICE events come 7 days and 1 day before it, once each, across scheduler runs")
  func trialNotices() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await c.accounts.createAccount(Make.account("Trying", email: "")).account.accountID
      let got = try await c.accounts.getAccount(Make.get(a))
      var subReq = Practice_V1_GetSubscriptionRequest()
      subReq.accountID = a
      let sub = try await c.billing.getSubscription(subReq)
      let trialEnd = sub.subscription.trialEndsAtMs
      #expect(trialEnd > 0 && got.lifecycle.trialEndsAtMs == trialEnd && sub.lifecycle.trialEndsAtMs == trialEnd)
      #expect(got.lifecycle.graceEndsAtMs == 0 && got.lifecycle.retentionEndsAtMs == 0)
      let start = got.account.changeSequence

      // The scheduler runs many times (each advance runs it): 22 days, then the last 8 a few hours at a time.
      try await advance(c, days: 22)
      for _ in 0..<((8 * 24 - 2) / 6) { try await advance(c, days: 0.25) }
      var watch = Practice_V1_WatchRequest()
      watch.accountID = a
      watch.afterSequence = start
      var notices: [Practice_V1_LifecycleNotice] = []
      for try await e in try c.watch.watch(watch) {
        if e.synced { break }
        if e.change.changeType == .notice { notices.append(e.change.notice) }
      }
      #expect(notices.map(\.daysBefore) == [7, 1])
      #expect(notices.allSatisfy { $0.step == .trialEnd && $0.atMs == trialEnd })
      // Notices are not audited: nothing changed.
      #expect(try await auditEvents(c, a).allSatisfy { !$0.method.contains("LifecycleNotices") })
    }
  }

  @Test("a closed account's retention end is told and noticed 7 days and 1 day ahead; a 7-day notice the scheduler missed is not sent late")
  func retentionAndGrace() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await c.accounts.createAccount(Make.account("Closing", email: "")).account.accountID
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = a
      close.confirmPracticeName = "Closing"
      let closed = try await c.accounts.closeAccount(close).account
      let got = try await c.accounts.getAccount(Make.get(a))
      #expect(got.lifecycle.retentionEndsAtMs == closed.retentionEndsAtMs && got.lifecycle.trialEndsAtMs == 0)
      func notices(_ id: String, after: Int64) async throws -> [(Practice_V1_LifecycleStep, Int32)] {
        var watch = Practice_V1_WatchRequest()
        watch.accountID = id
        watch.afterSequence = after
        var out: [(Practice_V1_LifecycleStep, Int32)] = []
        for try await e in try c.watch.watch(watch) {
          if e.synced { break }
          if e.change.changeType == .notice { out.append((e.change.notice.step, e.change.notice.daysBefore)) }
        }
        return out
      }
      try await advance(c, days: 24)
      try await advance(c, days: 5.5)
      let first = try await notices(a, after: closed.changeSequence)
      #expect(first.map(\.0) == [.retentionEnd, .retentionEnd] && first.map(\.1) == [7, 1], "\(first)")
      // Another account the scheduler first sees a day before its purge gets the 1-day notice only.
      let b = try await c.accounts.createAccount(Make.account("Late", email: "")).account.accountID
      close.accountID = b
      close.confirmPracticeName = "Late"
      let closedB = try await c.accounts.closeAccount(close).account
      try await advance(c, days: 29.5)
      let late = try await notices(b, after: closedB.changeSequence)
      #expect(late.map(\.0) == [.retentionEnd] && late.map(\.1) == [1])
    }
  }
}

@Suite("Export, complete and audited")
struct ExportTests {
  @Test("the export carries the usage reports, and writes an audit event before anything is sent")
  func usageAndAudit() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let s = try await Staff.make(c)
      _ = try await c.billing.setPaymentMethod(card(s.account))
      _ = try await c.billing.changePlan(plan(s.account, .freemium))
      var usage = Practice_V1_ReportUsageRequest()
      usage.accountID = s.account
      usage.periodStart = "2030-01-05"
      usage.activeClients = 3
      usage.electronicClaims = 1
      _ = try await c.billing.reportUsage(usage)
      var req = Practice_V1_ExportAccountRequest()
      req.accountID = s.account
      var chunks: [Practice_V1_ExportAccountChunk] = []
      for try await chunk in try c.accounts.exportAccount(req) { chunks.append(chunk) }
      let reports = chunks.flatMap(\.usageReports)
      #expect(reports.count == 1 && reports.first?.periodStart == "2030-01-05" && reports.first?.activeClients == 3
        && reports.first?.electronicClaims == 1)
      let audited = try await auditEvents(c, s.account, method: "/practice.v1.AccountService/ExportAccount")
      #expect(audited.count == 1 && audited.first?.note == "exported, the full tax id included")
    }
  }
}

@Suite("Billing starts when the trial is left")
struct BillingAnchorTests {
  @Test("a trial converted on day 20: the first invoice comes a month after the conversion day, and no trial day is charged")
  func conversionOnDay20() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-01-05T12:00:00Z")
      let a = try await c.accounts.createAccount(Make.account("Converts", email: "")).account.accountID
      try await advance(c, to: "2030-01-25T12:00:00Z")
      _ = try await c.billing.setPaymentMethod(card(a))
      let sub = try await c.billing.changePlan(plan(a, .professional)).subscription
      #expect(sub.periodStart == "2030-01-25" && sub.periodEnd == "2030-02-25")
      // Where the old rule issued the creation month's invoice (Feb 5), nothing is issued now.
      try await advance(c, to: "2030-02-24T12:00:00Z")
      #expect(try await invoices(c, a).isEmpty)
      try await advance(c, to: "2030-02-25T12:00:00Z")
      let issued = try await invoices(c, a)
      #expect(issued.count == 1)
      #expect(issued.first?.periodStart == "2030-01-25" && issued.first?.periodEnd == "2030-02-25")
      #expect(issued.first?.amountMinor == 5900)
    }
  }
}

@Suite("Plan changes are prorated")
struct ProrationTests {
  @Test("FREEMIUM to PROFESSIONAL on day 10 of a 30-day period: credit and charge lines add up to the prorated difference; the next period is whole")
  func freemiumToProfessionalOnDay10() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-04-01T12:00:00Z")  // April: a 30-day period in UTC
      let a = try await payingAccount(c, "Grows", plan: .freemium)
      try await advance(c, to: "2030-04-11T12:00:00Z")
      _ = try await c.billing.changePlan(plan(a, .professional))
      var preview = Practice_V1_PreviewInvoiceRequest()
      preview.accountID = a
      let draft = try await c.billing.previewInvoice(preview).invoice
      #expect(draft.periodStart == "2030-04-01" && draft.periodEnd == "2030-05-01")
      try await advance(c, to: "2030-05-01T12:00:00Z")
      let april = try #require(try await invoices(c, a).first { $0.periodStart == "2030-04-01" })
      #expect(april.lines.map(\.amountMinor) == draft.lines.map(\.amountMinor))
      // FREEMIUM with no usage is not chargeable: its credit is 0, and PROFESSIONAL is charged for the
      // 20 days left of 30.
      let prorated = april.lines.dropFirst()
      #expect(prorated.count == 2)
      #expect(prorated.reduce(0) { $0 + $1.amountMinor } == (5900 * 20 + 15) / 30)
      #expect(prorated.first?.description_p.hasPrefix("Credit: FREEMIUM") == true)
      #expect(april.amountMinor == 3933)
      try await advance(c, to: "2030-06-01T12:00:00Z")
      let may = try #require(try await invoices(c, a).first { $0.periodStart == "2030-05-01" })
      #expect(may.lines.count == 1 && may.amountMinor == 5900)
    }
  }
}

@Suite("Closing and reopening are billed by day")
struct ClosingProrationTests {
  @Test("closed on day 10 and reopened on day 20 of a 30-day period: charged for the 20 open days; nothing while closed")
  func closeAndReopen() async throws {
    try await withServices { d in
      let c = try await d.connect()
      try await advance(c, to: "2030-04-01T12:00:00Z")
      let a = try await payingAccount(c, "Pauses")
      try await advance(c, to: "2030-04-11T12:00:00Z")
      var close = Practice_V1_CloseAccountRequest()
      close.accountID = a
      close.confirmPracticeName = "Pauses"
      _ = try await c.accounts.closeAccount(close)
      try await advance(c, to: "2030-04-21T12:00:00Z")
      var reopen = Practice_V1_ReopenAccountRequest()
      reopen.accountID = a
      _ = try await c.accounts.reopenAccount(reopen)
      try await advance(c, to: "2030-05-01T12:00:00Z")
      let april = try #require(try await invoices(c, a).first { $0.periodStart == "2030-04-01" })
      // 5,900 for the period, less 20 unused days, plus 10 days from the reopening: 20 of 30 days.
      let expected: Int64 = 5900 - (5900 * 20 + 15) / 30 + (5900 * 10 + 15) / 30
      #expect(april.amountMinor == expected, "\(april.lines)")
      // A period wholly closed (without the archive subscription) is not invoiced.
      let b = try await c.accounts.createAccount(Make.account("Stops", email: "")).account.accountID
      _ = try await c.billing.setPaymentMethod(card(b))
      _ = try await c.billing.changePlan(plan(b, .professional))
      close.accountID = b
      close.confirmPracticeName = "Stops"
      try await advance(c, days: 3)
      _ = try await c.accounts.closeAccount(close)
      try await advance(c, days: 29)
      let billed = try await invoices(c, b)
      // May (31 days), closed on its fourth day: 3 days charged.
      let unused: Int64 = (5900 * 28 + 15) / 31
      let amounts: [Int64] = billed.map(\.amountMinor)
      #expect(amounts == [5900 - unused])
    }
  }
}
