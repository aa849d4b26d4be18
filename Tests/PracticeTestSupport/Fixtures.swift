// Helpers shared by the service tests (over the in-process transport) and the end-to-end tests (over
// the socket): request builders, fixtures and expectations, generic over the client transport.

import Foundation
import PracticeCore
import PracticeProto
import SwiftProtobuf
import Testing

public struct TestFailure: Error, CustomStringConvertible {
  public var description: String
  public init(_ d: String) { description = d }
}

/// State the tasks of a test share (the project's lock, `LockedState`, with a short name).
public typealias Shared = LockedState

extension LockedState {
  public var value: Value { withLock { $0 } }
  public func update(_ body: (inout Value) -> Void) { withLock { body(&$0) } }
}

/// Expects `body` to fail with an RPCError of this code and reason; returns it.
@discardableResult
public func expectRPCError(
  _ code: StatusCode, _ reason: Reason, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> Void
) async -> RPCError? {
  do {
    try await body()
    Issue.record("expected \(code.name) \(reason.rawValue), got success", sourceLocation: sourceLocation)
    return nil
  } catch let e as RPCError {
    #expect(e.code == code && e.reason == reason, "got \(e)", sourceLocation: sourceLocation)
    return e
  } catch {
    Issue.record("expected RPCError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

/// Helpers to build requests briefly.
public enum Make {
  public static func account(_ name: String = "Harbor Therapy", owner: String = "Dana Lee", email: String = "dana@harbor.example",
                      ownerRoles: [Practice_V1_Role] = []) -> Practice_V1_CreateAccountRequest {
    var r = Practice_V1_CreateAccountRequest()
    r.practiceName = name
    r.ownerName = owner
    r.ownerEmail = email
    r.ownerRoles = ownerRoles
    return r
  }

  public static func user(_ account: String, _ name: String, email: String = "", roles: [Practice_V1_Role]) -> Practice_V1_AddUserRequest {
    var r = Practice_V1_AddUserRequest()
    r.accountID = account
    r.name = name
    r.email = email
    r.roles = roles
    return r
  }

  public static func get(_ account: String) -> Practice_V1_GetAccountRequest {
    var r = Practice_V1_GetAccountRequest()
    r.accountID = account
    return r
  }

  public static func sleep(_ ms: UInt32) -> Practice_Test_V1_SleepRequest {
    var r = Practice_Test_V1_SleepRequest()
    r.durationMs = ms
    return r
  }
}

public let day: Int64 = 86_400_000

public func advance(_ c: some ClientTransport, days: Double) async throws {
  var r = Practice_Test_V1_AdvanceRequest()
  r.byMs = Int64(days * Double(day))
  _ = try await c.testClock.advance(r)
}

/// Moves the daemon's clock to `iso` (it only moves forward).
public func advance(_ c: some ClientTransport, to iso: String) async throws {
  var r = Practice_Test_V1_AdvanceRequest()
  r.byMs = 1
  let now = try await c.testClock.advance(r).nowMs
  let target = Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
  precondition(target > now, "the clock only moves forward")
  r.byMs = target - now
  _ = try await c.testClock.advance(r)
}

public func card(_ account: String, token: String = "tok_live_abc123", brand: String = "Visa", expiry: String = "2040-12")
  -> Practice_V1_SetPaymentMethodRequest
{
  var r = Practice_V1_SetPaymentMethodRequest()
  r.accountID = account
  r.paymentMethod.processorToken = token
  r.paymentMethod.brand = brand
  r.paymentMethod.last4 = "4242"
  r.paymentMethod.expiry = expiry
  r.paymentMethod.billingZip = "02134"
  return r
}

public func plan(_ account: String, _ p: Practice_V1_Plan) -> Practice_V1_ChangePlanRequest {
  var r = Practice_V1_ChangePlanRequest()
  r.accountID = account
  r.plan = p
  return r
}

/// A new account on a paid plan (a card on file, then `plan`): its id.
public func payingAccount(_ c: some ClientTransport, _ name: String = "Harbor Therapy",
                          plan p: Practice_V1_Plan = .professional, ownerRoles: [Practice_V1_Role] = []) async throws -> String {
  let a = try await c.accounts.createAccount(Make.account(name, email: "", ownerRoles: ownerRoles)).account.accountID
  _ = try await c.billing.setPaymentMethod(card(a))
  _ = try await c.billing.changePlan(plan(a, p))
  return a
}

public func invoices(_ c: some ClientTransport, _ account: String) async throws -> [Practice_V1_Invoice] {
  var r = Practice_V1_ListInvoicesRequest()
  r.accountID = account
  r.pageSize = 500
  return try await c.billing.listInvoices(r).invoices
}

public func state(_ c: some ClientTransport, _ account: String) async throws -> Practice_V1_Account {
  try await c.accounts.getAccount(Make.get(account)).account
}

/// An account with an owner, an administrator, a practitioner, a biller, a scheduler and a supervisor.
public struct Staff: Sendable {
  public let account: String
  public let owner: String
  public let admin: String
  public let practitioner: String
  public let biller: String
  public let scheduler: String
  public let supervisor: String

  public static func make(_ c: some ClientTransport, name: String = "Harbor Therapy") async throws -> Staff {
    let created = try await c.accounts.createAccount(Make.account(name, email: ""))
    let a = created.account.accountID
    func add(_ n: String, _ r: Practice_V1_Role) async throws -> String {
      try await c.accounts.addUser(Make.user(a, n, roles: [r])).user.userID
    }
    return Staff(
      account: a, owner: created.owner.userID, admin: try await add("Ada", .administrator),
      practitioner: try await add("Pat", .practitioner), biller: try await add("Bill", .biller),
      scheduler: try await add("Sky", .scheduler), supervisor: try await add("Sue", .supervisor))
  }
}

public func businessUpdate(_ account: String, _ mask: [String], expected: Int64 = 0,
                    _ edit: (inout Practice_V1_BusinessInfo) -> Void) -> Practice_V1_UpdateBusinessInfoRequest {
  var r = Practice_V1_UpdateBusinessInfoRequest()
  r.accountID = account
  r.updateMask = mask
  r.expectedVersion = expected
  edit(&r.businessInfo)
  return r
}

public func auditEvents(_ c: some ClientTransport, _ account: String, method: String = "") async throws -> [Practice_V1_AuditEvent] {
  var req = Practice_V1_ListAuditEventsRequest()
  req.accountID = account
  req.method = method
  req.pageSize = 500
  var out: [Practice_V1_AuditEvent] = []
  for try await page in c.audit.listAuditEventsPages(req) { out += page.events }
  return out
}

public let updateBusinessMethod = "/practice.v1.BusinessService/UpdateBusinessInfo"

public func office(_ account: String, _ name: String = "Main Office", code: String = "11", isDefault: Bool = false) -> Practice_V1_CreateLocationRequest {
  var r = Practice_V1_CreateLocationRequest()
  r.accountID = account
  r.location.name = name
  r.location.posCode = code
  r.location.isDefault = isDefault
  var a = Practice_V1_Address()
  a.line1 = "12 Harbor St"
  a.city = "Boston"
  a.state = "MA"
  a.zip = "02134"
  r.location.address = a
  return r
}

public func telehealth(_ account: String) -> Practice_V1_CreateLocationRequest {
  var r = Practice_V1_CreateLocationRequest()
  r.accountID = account
  r.location.name = "Video visits"
  r.location.telehealth = true
  return r
}

public func resolvePOS(_ account: String, _ location: String, payer: String = "", home: Bool, date: String) -> Practice_V1_ResolvePlaceOfServiceRequest {
  var r = Practice_V1_ResolvePlaceOfServiceRequest()
  r.accountID = account
  r.locationID = location
  r.payerID = payer
  r.patientAtHome = home
  r.dateOfService = date
  return r
}

public let hour: Int64 = 3_600_000

/// 2030-01-07 15:00 UTC, a Monday.
public let monday: Int64 = 1_894_028_400_000

public func book(_ s: Staff, room: String, location: String, start: Int64, minutes: Int64 = 50, practitioner: String? = nil,
          override: Bool = false, weekly: Int32? = nil, ref: String = "") -> Practice_V1_BookRoomRequest {
  var r = Practice_V1_BookRoomRequest()
  r.accountID = s.account
  r.roomID = room
  r.locationID = location
  r.practitionerUserID = practitioner ?? s.practitioner
  r.startMs = start
  r.endMs = start + minutes * 60_000
  r.override = override
  r.appointmentRef = ref
  if let weekly {
    var w = Practice_V1_WeeklyRecurrence()
    w.occurrences = weekly
    r.weekly = w
  }
  return r
}

/// A one-occurrence availability check of the setup's room.
public func roomCheck(_ rs: RoomSetup, start: Int64, end: Int64) -> Practice_V1_CheckRoomAvailabilityRequest {
  var check = Practice_V1_CheckRoomAvailabilityRequest()
  check.accountID = rs.staff.account
  check.roomID = rs.room
  check.startMs = start
  check.endMs = end
  return check
}

/// An account with two practitioners, an office and a room in it.
public struct RoomSetup: Sendable {
  public let staff: Staff
  public let location: String
  public let room: String
  public let secondPractitioner: String

  public static func make(_ c: some ClientTransport, timeZone: String = "UTC", policy: Practice_V1_RoomConflictPolicy = .warn) async throws -> RoomSetup {
    let s = try await Staff.make(c)
    let p2 = try await c.accounts.addUser(Make.user(s.account, "Pia", roles: [.practitioner])).user.userID
    var settings = Practice_V1_UpdateAccountSettingsRequest()
    settings.accountID = s.account
    settings.updateMask = ["time_zone", "room_conflict_policy"]
    settings.settings.timeZone = timeZone
    settings.settings.roomConflictPolicy = policy
    _ = try await c.accounts.updateAccountSettings(settings)
    let loc = try await c.locations.createLocation(office(s.account)).location.locationID
    var room = Practice_V1_CreateRoomRequest()
    room.accountID = s.account
    room.room.name = "Room 1"
    room.room.locationIds = [loc]
    let r = try await c.rooms.createRoom(room).room.roomID
    return RoomSetup(staff: s, location: loc, room: r, secondPractitioner: p2)
  }
}

public func settingsChange(_ account: String, _ tz: String) -> Practice_V1_UpdateAccountSettingsRequest {
  var r = Practice_V1_UpdateAccountSettingsRequest()
  r.accountID = account
  r.updateMask = ["time_zone"]
  r.settings.timeZone = tz
  return r
}

public let zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]

extension Sequence {
  public func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var out: [T] = []
    for e in self { out.append(try await transform(e)) }
    return out
  }
}

public func auditQuery(_ account: String) -> Practice_V1_ListAuditEventsRequest {
  var q = Practice_V1_ListAuditEventsRequest()
  q.accountID = account
  q.pageSize = 200
  return q
}
