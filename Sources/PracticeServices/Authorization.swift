import PracticeCore
import PracticeDomain
import PracticeProto
import PracticeStore

/// Who is acting in a call, once authorized.
public struct Actor: Sendable {
  /// The acting user (a service peer's checked actor; an operator's unchecked `actor`, if sent).
  public var userID: String
  public var roles: RoleSet
  public var isOperator: Bool

  /// Whether the actor has administrator permission (operators always do).
  public var isAdministrator: Bool { isOperator || roles.hasAdministratorPermission }
}

public enum Authorization {
  /// Authorizes a call on `accountID` per the role matrix (PracticeDomain.AccessPolicy).
  /// Operators may do everything. A service peer must name, in `actor`, an active user of the
  /// account whose roles meet the method's requirement.
  public static func authorize(_ ctx: CallContext, accountID: String?, reader: any StoreReader) throws -> Actor {
    switch ctx.peer.peerClass {
    case .operator:
      return Actor(userID: ctx.actor ?? "", roles: RoleSet([]), isOperator: true)
    case .denied:
      throw RPCError.permissionDenied(.peerNotAllowed, "peer is not allowed")
    case .service:
      let requirement = AccessPolicy.requirement(ctx.method.path)
      if requirement == .operatorOnly {
        throw RPCError.permissionDenied(.roleRequired, "\(ctx.method.name) needs \(requirement.describe)")
      }
      if requirement == .anyPeer || requirement == .anyConnection { return Actor(userID: ctx.actor ?? "", roles: RoleSet([]), isOperator: false) }
      guard let actorID = ctx.actor, let accountID, !accountID.isEmpty,
        let user = try reader.user(account: accountID, id: actorID), user.active
      else {
        throw RPCError.permissionDenied(.unknownActor, "the actor is not an active user of the account")
      }
      let roles = user.roleSet
      guard requirement.allows(roles) else {
        throw RPCError.permissionDenied(.roleRequired, "\(ctx.method.name) needs \(requirement.describe)")
      }
      return Actor(userID: actorID, roles: roles, isOperator: false)
    }
  }
}

