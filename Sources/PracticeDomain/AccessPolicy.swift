import PracticeProto
import PracticeCore

/// Who may call a method (PRODUCT.md, "Users and roles"). Operators may call everything; a service
/// peer's actor must be an active user of the account whose roles satisfy the requirement.
public enum Requirement: Sendable, Hashable {
  /// Any active user of the account.
  case anyUser
  /// OWNER or ADMINISTRATOR.
  case administrator
  /// BILLER, OWNER or ADMINISTRATOR.
  case biller
  /// OWNER.
  case owner
  /// PRACTITIONER (for their own bookings), SCHEDULER, OWNER or ADMINISTRATOR (for anyone's).
  case booking
  /// Operator peers only.
  case operatorOnly
  /// Not about an account: any operator or service peer (reflection).
  case anyPeer
  /// Any peer that can connect, one in no peer class too (the socket's permissions decide who can):
  /// health, so that a monitoring user needs no role.
  case anyConnection

  /// Whether a user with `roles` meets the requirement. For `.booking` this says whether the user may
  /// book at all; `mayBook(for:)` decides whose bookings.
  public func allows(_ roles: RoleSet) -> Bool {
    switch self {
    case .anyUser, .anyPeer, .anyConnection: true
    case .administrator: roles.hasAdministratorPermission
    case .biller: roles.hasAdministratorPermission || roles.contains(.biller)
    case .owner: roles.isOwner
    case .booking:
      roles.hasAdministratorPermission || roles.contains(.scheduler) || roles.contains(.practitioner)
    case .operatorOnly: false
    }
  }

  /// The roles that satisfy the requirement, for error messages.
  public var describe: String {
    switch self {
    case .anyUser: "any active user"
    case .anyPeer: "any peer"
    case .anyConnection: "any connection"
    case .administrator: "OWNER or ADMINISTRATOR"
    case .biller: "BILLER, OWNER or ADMINISTRATOR"
    case .owner: "OWNER"
    case .booking: "PRACTITIONER, SCHEDULER, OWNER or ADMINISTRATOR"
    case .operatorOnly: "an operator peer"
    }
  }
}

extension RoleSet {
  /// Whether this user may book (or cancel, or override) for `practitionerUserID` when they are
  /// `selfUserID`: PRACTITIONER for their own bookings; SCHEDULER and administrators for anyone's.
  public func mayBook(for practitionerUserID: String, selfUserID: String) -> Bool {
    if hasAdministratorPermission || contains(.scheduler) { return true }
    return contains(.practitioner) && practitionerUserID == selfUserID
  }
}

/// The role matrix, in one table: every method of every service.
public enum AccessPolicy {
  public static let table: [String: Requirement] = [
    "/practice.rpc.v1.Reflection/Describe": .anyPeer,
    "/practice.rpc.v1.Health/Check": .anyConnection,
    "/practice.rpc.v1.Metrics/Get": .operatorOnly,
    "/practice.test.v1.TestClock/Advance": .operatorOnly,
    "/practice.test.v1.TestControl/Sleep": .operatorOnly,
    "/practice.test.v1.TestControl/SetStoreReadOnly": .operatorOnly,

    "/practice.v1.AccountService/CreateAccount": .operatorOnly,
    "/practice.v1.AccountService/GetAccount": .anyUser,
    "/practice.v1.AccountService/ListAccounts": .operatorOnly,
    "/practice.v1.AccountService/UpdateAccountSettings": .administrator,
    "/practice.v1.AccountService/AddUser": .administrator,
    "/practice.v1.AccountService/UpdateUser": .administrator,
    "/practice.v1.AccountService/DeactivateUser": .administrator,
    "/practice.v1.AccountService/ListUsers": .anyUser,
    "/practice.v1.AccountService/TransferOwnership": .owner,
    "/practice.v1.AccountService/CloseAccount": .owner,
    "/practice.v1.AccountService/ReopenAccount": .owner,
    "/practice.v1.AccountService/ExportAccount": .owner,

    "/practice.v1.BusinessService/GetBusinessInfo": .anyUser,
    "/practice.v1.BusinessService/UpdateBusinessInfo": .administrator,
    "/practice.v1.BusinessService/ResolveSenderEmail": .anyUser,

    "/practice.v1.LocationService/CreateLocation": .administrator,
    "/practice.v1.LocationService/GetLocation": .anyUser,
    "/practice.v1.LocationService/ListLocations": .anyUser,
    "/practice.v1.LocationService/UpdateLocation": .administrator,
    "/practice.v1.LocationService/ArchiveLocation": .administrator,
    "/practice.v1.LocationService/ListPlaceOfServiceCodes": .anyUser,
    "/practice.v1.LocationService/SetPayerPosRule": .administrator,
    "/practice.v1.LocationService/ListPayerPosRules": .anyUser,
    "/practice.v1.LocationService/DeletePayerPosRule": .administrator,
    "/practice.v1.LocationService/ResolvePlaceOfService": .anyUser,

    "/practice.v1.RoomService/CreateRoom": .administrator,
    "/practice.v1.RoomService/GetRoom": .anyUser,
    "/practice.v1.RoomService/ListRooms": .anyUser,
    "/practice.v1.RoomService/UpdateRoom": .administrator,
    "/practice.v1.RoomService/ArchiveRoom": .administrator,
    "/practice.v1.RoomService/BookRoom": .booking,
    "/practice.v1.RoomService/MoveRoomBooking": .booking,
    "/practice.v1.RoomService/CancelRoomBooking": .booking,
    "/practice.v1.RoomService/ListRoomBookings": .anyUser,
    "/practice.v1.RoomService/CheckRoomAvailability": .anyUser,

    "/practice.v1.BillingService/GetSubscription": .biller,
    "/practice.v1.BillingService/ChangePlan": .administrator,
    "/practice.v1.BillingService/SetPaymentMethod": .administrator,
    "/practice.v1.BillingService/RemovePaymentMethod": .administrator,
    "/practice.v1.BillingService/ReportUsage": .operatorOnly,
    "/practice.v1.BillingService/PreviewInvoice": .biller,
    "/practice.v1.BillingService/ListInvoices": .biller,
    "/practice.v1.BillingService/GetInvoice": .biller,
    "/practice.v1.BillingService/RecordPayment": .operatorOnly,
    "/practice.v1.BillingService/VoidInvoice": .operatorOnly,
    "/practice.v1.AccountService/ReactivateUser": .administrator,
    "/practice.v1.LocationService/UnarchiveLocation": .administrator,
    "/practice.v1.RoomService/UnarchiveRoom": .administrator,
    "/practice.v1.BillingService/SetArchiveSubscription": .administrator,
    "/practice.v1.BillingService/GetTaxFormInfo": .biller,

    "/practice.v1.ClaimService/ResolveClaimProfile": .biller,

    "/practice.v1.AuditService/ListAuditEvents": .administrator,
    "/practice.v1.WatchService/Watch": .anyUser,
  ]

  /// Methods that still work on a closed account (besides reads and the daemon's own work).
  public static let allowedWhenClosed: Set<String> = [
    "/practice.v1.AccountService/ReopenAccount",
    "/practice.v1.BillingService/SetArchiveSubscription",
    "/practice.v1.BillingService/SetPaymentMethod",
    "/practice.v1.BillingService/RemovePaymentMethod",
    "/practice.v1.BillingService/RecordPayment",
    // An operator's billing correction: voiding the invoice that closed an account lets it reopen.
    "/practice.v1.BillingService/VoidInvoice",
  ]

  /// The requirement of a method; a method missing from the table is refused to service peers.
  public static func requirement(_ path: String) -> Requirement { table[path] ?? .operatorOnly }
}
