import PracticeProto

/// A user's roles. Roles combine; "administrator permission" is OWNER or ADMINISTRATOR.
public struct RoleSet: Hashable, Sendable {
  public private(set) var roles: Set<Practice_V1_Role>

  public init<S: Sequence>(_ roles: S) where S.Element == Practice_V1_Role { self.roles = Set(roles) }

  public func contains(_ r: Practice_V1_Role) -> Bool { roles.contains(r) }
  public var isOwner: Bool { roles.contains(.owner) }
  public var hasAdministratorPermission: Bool { roles.contains(.owner) || roles.contains(.administrator) }

  /// The roles in their declared order (how they are stored and returned).
  public var sorted: [Practice_V1_Role] { roles.sorted { $0.rawValue < $1.rawValue } }
}

extension Practice_V1_User {
  public var roleSet: RoleSet { RoleSet(roles) }
}

/// The roles a user may be given by AddUser/UpdateUser: at least one, known, never OWNER (which
/// only CreateAccount and TransferOwnership set). Returns the violations of `field`.
public func validateAssignableRoles(_ roles: [Practice_V1_Role], field: String) -> [FieldViolationValue] {
  var out: [FieldViolationValue] = []
  if roles.isEmpty { out.append(.init(field, "at least one role is required")) }
  for role in roles {
    switch role {
    case .owner:
      out.append(.init(field, "OWNER is set only by CreateAccount and TransferOwnership"))
    case .unspecified, .UNRECOGNIZED:
      out.append(.init(field, "unknown role"))
    default: break
    }
  }
  return out
}
