import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import PracticeCore
import PracticeProto
import PracticeRPC
import PracticeWire
import ServiceLifecycle

/// The Unix-socket server: accepts connections, reads peer credentials, and hands each connection
/// to a `ConnectionHandler`. A `Service` of the daemon's service group.
public final class RPCServer: Service, Sendable {
  private let configuration: DaemonConfiguration
  private let peerPolicy: PeerPolicy
  private let dispatcher: Dispatcher
  private let group: EventLoopGroup
  private let logger: Logger
  private let registry = ConnectionRegistry()
  private let onReady: @Sendable (String) -> Void
  /// The socket systemd passed, if any (else the daemon binds `configuration.socketPath`).
  private let activated: SystemdSocket?
  /// The path clients connect to: the bound path of the socket systemd passed, else the configured one.
  public let socketPath: String

  public init(configuration: DaemonConfiguration, peerPolicy: PeerPolicy, dispatcher: Dispatcher,
              group: EventLoopGroup, logger: Logger, activated: SystemdSocket? = nil,
              onReady: @escaping @Sendable (String) -> Void = { _ in }) {
    self.configuration = configuration
    self.peerPolicy = peerPolicy
    self.activated = activated
    self.socketPath = activated.flatMap { SocketPath.boundPath(of: $0.fd) } ?? configuration.socketPath
    self.dispatcher = dispatcher
    self.group = group
    self.logger = logger
    self.onReady = onReady
  }

  /// Open connections right now.
  public var connectionCount: Int { registry.connectionCount }

  private func bootstrap() -> ServerBootstrap {
    let configuration = self.configuration
    let peerPolicy = self.peerPolicy
    let dispatcher = self.dispatcher
    let logger = self.logger
    let registry = self.registry
    return ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .childChannelOption(.allowRemoteHalfClosure, value: true)
      .childChannelOption(.writeBufferWaterMark, value: .init(
        low: configuration.outputLowWaterMark, high: configuration.outputHighWaterMark))
      .childChannelInitializer { channel in
        guard registry.reserve(limit: configuration.maxConnections) else {
          logger.notice("connection refused: too many connections")
          let error = RPCError(.resourceExhausted, .tooManyConnections,
                               "more than \(configuration.maxConnections) connections")
          let frame = Practice_Rpc_V1_Response.failure(callID: 0, error).frame(allocator: channel.allocator)
          channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
          return channel.eventLoop.makeSucceededVoidFuture()
        }
        channel.closeFuture.whenComplete { _ in registry.release() }
        return PeerCredentialsReader.read(channel).flatMapThrowing { creds in
          let credentials = creds ?? PeerCredentials(pid: 0, uid: UInt32.max, gid: UInt32.max)
          let peer = Peer(credentials: credentials, peerClass: peerPolicy.classify(credentials))
          logger.info("connection", metadata: [
            "peer_uid": "\(credentials.uid)", "peer_pid": "\(credentials.pid)", "class": "\(peer.peerClass)",
          ])
          try channel.pipeline.syncOperations.addHandler(ConnectionHandler(
            peer: peer, configuration: configuration, dispatcher: dispatcher, logger: logger, registry: registry))
        }
      }
  }

  /// Binds the socket: adopts the one systemd passed, else binds the path with mode 0660 (the path
  /// was checked by `SocketPath.prepare`: a stale socket is gone, anything else refused).
  func bind() async throws -> Channel {
    if let activated {
      logger.info("using the socket passed by systemd", metadata: [
        "fd": "\(activated.fd)", "name": "\(activated.name ?? "")", "socket": "\(socketPath)",
      ])
      return try await bootstrap().withBoundSocket(activated.fd).get()
    }
    let path = configuration.socketPath
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    // Created 0660 from the start: no window in which others could connect.
    let oldMask = umask(0o117)
    defer { umask(oldMask) }
    do {
      let channel = try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
      chmod(path, 0o660)
      return channel
    } catch {
      throw StartupError("cannot bind \(path): \(error)")
    }
  }

  public func run() async throws {
    let channel = try await bind()
    logger.info("listening", metadata: ["socket": "\(socketPath)"])
    onReady(socketPath)
    try await withGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onGracefulShutdown: {
      self.logger.info("shutting down: no new connections")
      channel.close(promise: nil)
    }
    await drain()
  }

  /// In-flight calls get the grace period; then everything still open ends with SHUTTING_DOWN.
  private func drain() async {
    let handlers = registry.all
    for h in handlers { h.beginShutdown() }
    let deadline = ContinuousClock.now + configuration.shutdownGrace
    while ContinuousClock.now < deadline, registry.all.contains(where: { $0.inFlight > 0 }) {
      try? await Task.sleep(for: .milliseconds(20))
    }
    for h in registry.all { h.endAllAndClose() }
    // Let the final responses flush.
    let closeBy = ContinuousClock.now + .seconds(2)
    while ContinuousClock.now < closeBy, registry.connectionCount > 0 {
      try? await Task.sleep(for: .milliseconds(10))
    }
    if activated == nil, socketPath.hasPrefix("/") {
      unlink(socketPath)
    }
  }
}
