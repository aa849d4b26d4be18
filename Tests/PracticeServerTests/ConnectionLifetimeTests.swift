import Foundation
import Logging
import NIOCore
import NIOEmbedded
import PracticeCore
import PracticeProto
import PracticeRPC
import PracticeServices
import PracticeStore
import PracticeWire
import Testing

@testable import PracticeServer

@Suite("Connection lifetime")
struct ConnectionLifetimeTests {
  /// A closed connection's handler, multiplexer and pipeline context must all be freed: the
  /// multiplexer writes through a LoopWriter that holds the handler's context, which holds the
  /// handler, which holds the multiplexer. The soak found ~4 KiB per connection kept forever.
  @Test("a closed connection's handler is freed, after a call and without one")
  func handlerFreed() throws {
    let logger = Logger(label: "test")
    let env = ServiceEnvironment(store: try SQLiteStore(inMemory: ()), logger: logger)
    let dispatcher = Services.makeDispatcher(env: env, configuration: .init())
    let registry = ConnectionRegistry()
    for withCall in [false, true] {
      weak var freed: ConnectionHandler?
      try {
        let channel = EmbeddedChannel()
        let handler = ConnectionHandler(
          peer: Peer(credentials: .init(pid: 1, uid: 0, gid: 0), peerClass: .operator),
          configuration: DaemonConfiguration(), dispatcher: dispatcher, logger: logger, registry: registry)
        freed = handler
        try channel.pipeline.syncOperations.addHandler(handler)
        if withCall {
          var request = Practice_Rpc_V1_Request()
          request.callID = 1
          request.method = "/practice.rpc.v1.Health/Check"
          try channel.writeInbound(request.frame())
          let response = try #require(try channel.readOutbound(as: ByteBuffer.self))
          #expect(response.readableBytes > 4)
        }
        _ = try? channel.finish()
        #expect(freed != nil)
      }()
      #expect(freed == nil, "the handler of a closed connection is still alive (with a call: \(withCall))")
      #expect(registry.all.isEmpty)
    }
  }
}
