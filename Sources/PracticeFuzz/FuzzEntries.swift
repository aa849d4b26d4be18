import Foundation
import Logging
import NIOCore
import PracticeCore
import PracticeProto
import PracticeRPC
import PracticeServices
import PracticeStore
import PracticeWire
import SwiftProtobuf

/// The inputs the fuzz targets (Fuzz/, scripts/fuzz) and the regression-corpus replay
/// (Tests/PracticeRPCTests/FuzzReplayTests) feed to the parsers. Each returns normally for any input;
/// a crash, a trap or a sanitizer report is the finding.
public enum FuzzEntries {
  /// The frame parser fed in chunks of at most 143 bytes, so reads split everywhere; every complete
  /// frame is decoded as an envelope.
  public static func frames(_ data: [UInt8]) {
    var parser = FrameParser(maxFrameSize: 64 * 1024)
    var offset = 0
    var chunk = 1 + Int(data.first ?? 0) % 143
    while offset < data.count {
      let end = min(data.count, offset + chunk)
      parser.append(ByteBuffer(bytes: data[offset..<end]))
      do {
        while let body = try parser.next() { _ = try? Practice_Rpc_V1_Request(frame: body) }
      } catch {
        return  // a framing error ends the stream, as it ends a connection
      }
      offset = end
      chunk = 1 + (chunk * 31 + 7) % 143
    }
  }

  /// The request envelope and its metadata, and the U+0000 walk over whatever decodes.
  public static func envelope(_ data: [UInt8]) {
    guard let request = try? Practice_Rpc_V1_Request(serializedBytes: data) else { return }
    _ = request.metadataValue(MetadataKey.actor)
    _ = StringFields.nulViolation(in: request)
    if let method = MethodCatalog.method(request.method),
      let message = try? method.requestType.init(serializedBytes: request.payload)
    {
      func walk<M: SwiftProtobuf.Message>(_ m: M) { _ = StringFields.nulViolation(in: m) }
      walk(message)
    }
    _ = request.frame()
  }

  /// The dispatcher: the first byte picks a method (or an arbitrary name from the input), the rest is
  /// the payload; a fresh in-memory store per input (a copy of a migrated template holding one
  /// account), so a crash reproduces from its input alone.
  public static func dispatch(_ data: [UInt8]) async {
    guard let template = await DispatchTemplate.shared.store(),
      let store = try? SQLiteStore(inMemoryCopyOf: template)
    else { return }
    let env = ServiceEnvironment(store: CachingStore(store), logger: quiet)
    let dispatcher = Services.makeDispatcher(env: env, configuration: .init(testHooks: false))
    let methods = MethodCatalog.all
    let pick = Int(data.first ?? 0)
    let path: String
    var payload = Array(data.dropFirst())
    if pick < 240 {
      path = methods[pick % methods.count].path
    } else {
      let n = min(payload.count, pick - 239)
      path = String(decoding: payload.prefix(n), as: UTF8.self)
      payload = Array(payload.dropFirst(n))
    }
    let peerClass: PeerClass = [.operator, .service, .denied][pick % 3]
    _ = try? await run(dispatcher, path, payload, peerClass)
    try? await store.close()
  }

  /// Makes the template store `dispatch` copies; the fuzz target calls it before libFuzzer's loop, so
  /// its one-time allocations are not taken for a leak of the first input.
  public static func prepareDispatch() async { _ = await DispatchTemplate.shared.store() }

  private static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

  /// The migrated database every dispatch input starts from, made once per process.
  private actor DispatchTemplate {
    static let shared = DispatchTemplate()
    private var made: SQLiteStore??

    func store() async -> SQLiteStore? {
      if let made { return made }
      var result: SQLiteStore?
      if let store = try? SQLiteStore(inMemory: ()) {
        // One account, so account-scoped calls get past NOT_FOUND now and then.
        let env = ServiceEnvironment(store: store, logger: quiet)
        let dispatcher = Services.makeDispatcher(env: env, configuration: .init(testHooks: false))
        var create = Practice_V1_CreateAccountRequest()
        create.practiceName = "Fuzz"
        create.ownerName = "Owner"
        if let bytes = try? create.serializedBytes() as [UInt8] {
          _ = try? await FuzzEntries.run(dispatcher, "/practice.v1.AccountService/CreateAccount", bytes, .operator)
        }
        // Keep a copy that never ran a statement, and close the seeded store.
        result = try? SQLiteStore(inMemoryCopyOf: store)
        try? await store.close()
      }
      made = .some(result)
      return result
    }
  }

  fileprivate static func run(_ d: Dispatcher, _ path: String, _ payload: [UInt8], _ peerClass: PeerClass) async throws -> Data? {
    guard case .success(let route) = d.resolve(path) else { return nil }
    let ctx = CallContext(
      method: route.method, callID: 1, peer: Peer(credentials: .init(pid: 1, uid: 0, gid: 0), peerClass: peerClass),
      metadata: peerClass == .service ? [MetadataKey.actor: "user_fuzz"] : [:],
      logger: quiet, requestBytes: Data(payload))
    // A stream (Watch) lasts until its client goes: end every call after a short while, as a
    // disconnect would, so one input never holds the fuzzer.
    return try await withThrowingTaskGroup(of: Data?.self) { group in
      group.addTask { try await d.run(ctx, route: route, payload: Data(payload), send: { _ in }) }
      group.addTask {
        try await Task.sleep(for: .milliseconds(500))
        throw CancellationError()
      }
      defer { group.cancelAll() }
      return try await group.next() ?? nil
    }
  }
}
