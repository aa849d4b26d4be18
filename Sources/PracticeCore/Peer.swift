/// What a peer may do, decided once per connection from its credentials.
public enum PeerClass: String, Sendable, CustomStringConvertible {
  /// May call every method; an `actor` it sends is recorded, not checked.
  case `operator`
  /// Must send an `actor` that is an active user of the request's account; the actor's roles decide.
  case service
  /// Every call gets `PERMISSION_DENIED` / `PEER_NOT_ALLOWED`.
  case denied

  public var description: String { rawValue }
}

/// The credentials of the process at the other end of a connection (`SO_PEERCRED`, `SO_PEERGROUPS`).
public struct PeerCredentials: Sendable, Hashable {
  public var pid: Int32
  public var uid: UInt32
  public var gid: UInt32
  /// Supplementary groups (the primary `gid` is not repeated here).
  public var groups: [UInt32]

  public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
    self.pid = pid
    self.uid = uid
    self.gid = gid
    self.groups = groups
  }

  /// Every group the peer is in: the primary one and the supplementary ones.
  public var allGroups: Set<UInt32> { Set(groups).union([gid]) }
}

/// Which credentials make an operator and which a service (docs/OPERATIONS.md, "Peer classes").
public struct PeerPolicy: Sendable, Hashable {
  public var operatorUIDs: Set<UInt32>
  public var operatorGIDs: Set<UInt32>
  public var serviceUIDs: Set<UInt32>
  public var serviceGIDs: Set<UInt32>

  public init(
    operatorUIDs: Set<UInt32> = [0], operatorGIDs: Set<UInt32> = [],
    serviceUIDs: Set<UInt32> = [], serviceGIDs: Set<UInt32> = []
  ) {
    self.operatorUIDs = operatorUIDs
    self.operatorGIDs = operatorGIDs
    self.serviceUIDs = serviceUIDs
    self.serviceGIDs = serviceGIDs
  }

  /// Operator first, then service, else denied.
  public func classify(_ peer: PeerCredentials) -> PeerClass {
    let groups = peer.allGroups
    if operatorUIDs.contains(peer.uid) || !operatorGIDs.isDisjoint(with: groups) { return .operator }
    if serviceUIDs.contains(peer.uid) || !serviceGIDs.isDisjoint(with: groups) { return .service }
    return .denied
  }
}

/// A connected peer: its credentials and its class.
public struct Peer: Sendable, Hashable, CustomStringConvertible {
  public var credentials: PeerCredentials
  public var peerClass: PeerClass

  public init(credentials: PeerCredentials, peerClass: PeerClass) {
    self.credentials = credentials
    self.peerClass = peerClass
  }

  public var description: String {
    "\(peerClass) uid=\(credentials.uid) pid=\(credentials.pid)"
  }

  /// The daemon itself, for scheduled work.
  public static let daemon = Peer(
    credentials: PeerCredentials(pid: 0, uid: 0, gid: 0), peerClass: .operator)
}
