import Foundation
import NIOCore
import PracticeProto
import SwiftProtobuf

/// Well-known metadata keys (docs/PROTOCOL.md, "Metadata keys").
public enum MetadataKey {
  public static let actor = "actor"
  public static let idempotencyKey = "idempotency-key"
  public static let requestID = "request-id"
}

extension Practice_Rpc_V1_Request {
  /// Decodes a request from one frame's body.
  public init(frame body: ByteBuffer) throws(FrameError) {
    do {
      self = try body.withUnsafeReadableBytes { raw in
        try Practice_Rpc_V1_Request(serializedBytes: raw)
      }
    } catch {
      throw .undecodable
    }
  }

  /// The first value of a metadata key.
  public func metadataValue(_ key: String) -> String? {
    metadata.first(where: { $0.key == key })?.value
  }
}

extension Practice_Rpc_V1_Response {
  /// A final response that reports `error`.
  public static func failure(callID: UInt64, _ error: RPCError) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.status = error.status
    return r
  }

  /// A final OK response with a payload.
  public static func success(callID: UInt64, payload: Data) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.status = .ok
    r.payload = payload
    return r
  }

  /// One item of a server stream.
  public static func streamItem(callID: UInt64, payload: Data) -> Practice_Rpc_V1_Response {
    var r = Practice_Rpc_V1_Response()
    r.callID = callID
    r.payload = payload
    r.more = true
    return r
  }

  /// The response encoded as one frame.
  public func frame(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    // Encoding a message we built ourselves cannot fail.
    let bytes: [UInt8] = try! serializedBytes()
    return FrameEncoder.frame(bytes, allocator: allocator)
  }
}

extension Practice_Rpc_V1_Request {
  /// The request encoded as one frame.
  public func frame(allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    let bytes: [UInt8] = try! serializedBytes()
    return FrameEncoder.frame(bytes, allocator: allocator)
  }
}
