import Glibc
import NIOCore
import NIOPosix
import PracticeCore
import PracticeRPC

/// Reads a connected Unix socket peer's credentials: `SO_PEERCRED` (pid, uid, gid) and
/// `SO_PEERGROUPS` (supplementary groups).
enum PeerCredentialsReader {
  /// Layout-compatible with `struct ucred` (hidden from Swift without `_GNU_SOURCE`).
  private struct UCred { var pid: Int32 = 0; var uid: UInt32 = 0; var gid: UInt32 = 0 }

  /// Room for 64 supplementary groups (32 x 8 bytes); with more, SO_PEERGROUPS fails and only the
  /// primary group counts.
  private struct GroupList {
    var g: (
      UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
      UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
      UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
    ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  }
  private static let SO_PEERGROUPS_: Int32 = 59

  static func read(_ channel: Channel) -> EventLoopFuture<PeerCredentials?> {
    guard let provider = channel as? SocketOptionProvider else {
      return channel.eventLoop.makeSucceededFuture(nil)
    }
    let credFuture: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
      level: .socket, name: .init(rawValue: SO_PEERCRED))
    return credFuture.flatMap { cred -> EventLoopFuture<PeerCredentials?> in
      let groupsFuture: EventLoopFuture<GroupList> = provider.unsafeGetSocketOption(
        level: .socket, name: .init(rawValue: SO_PEERGROUPS_))
      return groupsFuture.map { list -> PeerCredentials? in
        var list = list
        var groups: [UInt32] = []
        withUnsafeBytes(of: &list.g) { raw in
          let gids = raw.bindMemory(to: UInt32.self)
          // The kernel fills the front; the rest stays zeroed.
          var end = gids.count
          while end > 0 && gids[end - 1] == 0 { end -= 1 }
          groups = Array(gids[0..<end])
        }
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: groups)
      }.recover { _ in PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid) }
    }.recover { _ in nil }
  }
}
