/// The reasons practiced puts in `Status.reason` (docs/PROTOCOL.md keeps the full table).
/// A reason is for programs; it never changes meaning once published.
public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible,
  ExpressibleByStringLiteral
{
  public let rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }
  public init(stringLiteral value: String) { self.rawValue = value }
  public var description: String { rawValue }

  // Framing (the connection ends after the status).
  public static let frameTooLarge: Reason = "FRAME_TOO_LARGE"
  public static let badFrame: Reason = "BAD_FRAME"
  public static let badCallID: Reason = "BAD_CALL_ID"
  public static let frameTimeout: Reason = "FRAME_TIMEOUT"
  public static let tooManyConnections: Reason = "TOO_MANY_CONNECTIONS"
  // Calls.
  public static let tooManyCalls: Reason = "TOO_MANY_CALLS"
  public static let badPayload: Reason = "BAD_PAYLOAD"
  public static let unknownMethod: Reason = "UNKNOWN_METHOD"
  public static let notImplemented: Reason = "NOT_IMPLEMENTED"
  public static let testHooksDisabled: Reason = "TEST_HOOKS_DISABLED"
  public static let deadlineExceeded: Reason = "DEADLINE_EXCEEDED"
  public static let cancelled: Reason = "CANCELLED"
  public static let internalError: Reason = "INTERNAL"
  // Input.
  public static let validationFailed: Reason = "VALIDATION_FAILED"
  public static let alreadyExists: Reason = "ALREADY_EXISTS"
  public static let notFound: Reason = "NOT_FOUND"
  // Auth.
  public static let peerNotAllowed: Reason = "PEER_NOT_ALLOWED"
  public static let unknownActor: Reason = "UNKNOWN_ACTOR"
  public static let roleRequired: Reason = "ROLE_REQUIRED"
  // Mutations.
  public static let versionMismatch: Reason = "VERSION_MISMATCH"
  public static let idempotencyKeyReused: Reason = "IDEMPOTENCY_KEY_REUSED"
  public static let idempotencyInProgress: Reason = "IDEMPOTENCY_IN_PROGRESS"
  public static let accountClosed: Reason = "ACCOUNT_CLOSED"
  public static let ownerRule: Reason = "OWNER_RULE"
  // Product rules.
  public static let roomConflict: Reason = "ROOM_CONFLICT"
  public static let posNotEffective: Reason = "POS_NOT_EFFECTIVE"
  public static let roomsNeedTwoPractitioners: Reason = "ROOMS_NEED_TWO_PRACTITIONERS"
  public static let planLimit: Reason = "PLAN_LIMIT"
  public static let paymentMethodRequired: Reason = "PAYMENT_METHOD_REQUIRED"
  public static let periodClosed: Reason = "PERIOD_CLOSED"
  public static let confirmationMismatch: Reason = "CONFIRMATION_MISMATCH"
  public static let noSenderEmail: Reason = "NO_SENDER_EMAIL"
  public static let defaultLocation: Reason = "DEFAULT_LOCATION"
  public static let invoiceSettled: Reason = "INVOICE_SETTLED"
  public static let unpaidInvoice: Reason = "UNPAID_INVOICE"
  public static let retentionOver: Reason = "RETENTION_OVER"
  public static let locationArchived: Reason = "LOCATION_ARCHIVED"
  public static let roomArchived: Reason = "ROOM_ARCHIVED"
  public static let roomHasFutureBookings: Reason = "ROOM_HAS_FUTURE_BOOKINGS"
  public static let bookingCancelled: Reason = "BOOKING_CANCELLED"
  public static let cardNumberRefused: Reason = "CARD_NUMBER_REFUSED"
  // Watch.
  public static let watchOverflow: Reason = "WATCH_OVERFLOW"
  public static let watchTooOld: Reason = "WATCH_TOO_OLD"
  // Daemon state.
  public static let shuttingDown: Reason = "SHUTTING_DOWN"
  public static let storeUnavailable: Reason = "STORE_UNAVAILABLE"
  /// The database's filesystem is full: mutations are refused until space returns (reads still work).
  public static let storeFull: Reason = "STORE_FULL"
  /// Sent with `call_id = 0` just before the daemon closes a connection that stayed idle.
  public static let idleTimeout: Reason = "IDLE_TIMEOUT"
}
