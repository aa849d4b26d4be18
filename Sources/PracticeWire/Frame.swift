import Foundation
import NIOCore
import PracticeCore
import Synchronization

/// Limits that frame parsing enforces.
public enum FrameLimits {
  /// The default maximum frame size (the length field's value): 4 MiB.
  public static let defaultMaxFrameSize = 4 * 1024 * 1024
  /// The size of the length prefix.
  public static let headerSize = 4
}

/// A framing error: the connection ends after one `Response` with `call_id = 0` carrying `error`.
public struct FrameError: Error, Hashable, Sendable {
  public var error: RPCError
  public init(_ error: RPCError) { self.error = error }

  public static func tooLarge(length: Int, max: Int) -> FrameError {
    FrameError(RPCError(.resourceExhausted, .frameTooLarge, "frame length \(length) exceeds the maximum \(max)"))
  }
  public static let emptyFrame = FrameError(RPCError(.invalidArgument, .badFrame, "frame length 0"))
  public static let undecodable = FrameError(
    RPCError(.invalidArgument, .badFrame, "frame does not decode as practice.rpc.v1.Request"))
  public static func badCallID(_ message: String) -> FrameError {
    FrameError(RPCError(.invalidArgument, .badCallID, message))
  }
  public static let timeout = FrameError(
    RPCError(.deadlineExceeded, .frameTimeout, "frame not complete within the frame timeout"))
}

/// Splits a byte stream into frames: a big-endian `UInt32` length, then that many bytes.
///
/// The length is checked against the maximum as soon as its 4 bytes are in, before anything is
/// allocated for the body. Pure: no I/O, no clock, so it can be tested and fuzzed alone.
public struct FrameParser: Sendable {
  public let maxFrameSize: Int
  private var buffer: ByteBuffer
  /// Frames completed so far (the transport uses it to restart the frame timer).
  public private(set) var framesCompleted = 0

  public init(maxFrameSize: Int = FrameLimits.defaultMaxFrameSize, allocator: ByteBufferAllocator = .init()) {
    precondition(maxFrameSize > 0 && maxFrameSize <= Int(UInt32.max))
    self.maxFrameSize = maxFrameSize
    self.buffer = allocator.buffer(capacity: 0)
    self.empty = self.buffer
  }

  /// An empty buffer to hold when no bytes are pending.
  private let empty: ByteBuffer

  /// Appends bytes read from the stream.
  public mutating func append(_ bytes: ByteBuffer) {
    var bytes = bytes
    if buffer.readableBytes == 0 {
      buffer = bytes  // no copy when the buffer is empty
    } else {
      buffer.writeBuffer(&bytes)
    }
  }

  /// The next complete frame's body, `nil` when more bytes are needed.
  /// Throws `FrameError` for a zero or oversize length; after that the stream is unusable.
  public mutating func next() throws(FrameError) -> ByteBuffer? {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
    guard length > 0 else { throw .emptyFrame }
    guard Int(length) <= maxFrameSize else { throw .tooLarge(length: Int(length), max: maxFrameSize) }
    guard buffer.readableBytes >= FrameLimits.headerSize + Int(length) else { return nil }
    buffer.moveReaderIndex(forwardBy: FrameLimits.headerSize)
    let body = buffer.readSlice(length: Int(length))!
    framesCompleted += 1
    if buffer.readableBytes == 0 {
      // Let go of the bytes (often the transport's pooled receive buffer: clearing it in place
      // would copy it, and keep the pool from reusing it).
      buffer = empty
    } else if buffer.readerIndex > 64 * 1024 {
      buffer.discardReadBytes()
    }
    return body
  }

  /// Bytes of an incomplete frame are buffered (a partial frame at EOF is dropped).
  public var hasPartialFrame: Bool { buffer.readableBytes > 0 }
  public var bufferedBytes: Int { buffer.readableBytes }
}

/// Writes frames.
public enum FrameEncoder {
  /// Appends one frame holding `body` to `out`.
  public static func write(body: some Collection<UInt8>, into out: inout ByteBuffer) {
    out.writeInteger(UInt32(body.count))
    out.writeBytes(body)
  }

  /// One frame holding `body`.
  public static func frame(_ body: some Collection<UInt8>, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
    var out = allocator.buffer(capacity: FrameLimits.headerSize + body.count)
    write(body: body, into: &out)
    return out
  }
}

/// Keeps the writes to one event loop in the order they were made. A write made on the loop may go
/// out at once only when no write from another thread is still queued to the loop; otherwise it is
/// queued behind those. (Written at once, it would overtake them: a stream ended on the event loop
/// would send its final response ahead of an item its task had queued.)
///
/// A writer asks `canWriteNow()` and either writes at once or hands the write to `enqueue`.
public final class LoopOrder: Sendable {
  public let loop: any EventLoop
  /// Writes handed to the loop and not run yet.
  private let queued = Atomic<Int>(0)

  public init(loop: any EventLoop) { self.loop = loop }

  public func canWriteNow() -> Bool {
    loop.inEventLoop && queued.load(ordering: .acquiring) == 0
  }

  public func enqueue(_ write: @escaping @Sendable () -> Void) {
    queued.wrappingAdd(1, ordering: .releasing)
    loop.execute {
      self.queued.wrappingSubtract(1, ordering: .relaxed)
      write()
    }
  }
}

/// Writes frames to a channel from any thread, in the order they were made (`LoopOrder`). A frame
/// goes from the given handler's context, on the event loop: straight to the head of the pipeline,
/// without the pipeline's entry point and the tail.
public struct LoopWriter: Sendable {
  public let channel: Channel
  /// The handler's context until `detach()`.
  private let context: NIOLoopBoundBox<ChannelHandlerContext?>
  private let order: LoopOrder
  public let allocator: ByteBufferAllocator
  /// The buffer of the last frame written at once (`writeAndFlush(encoding:)`), kept for the next one.
  private let spare: NIOLoopBoundBox<ByteBuffer?>
  /// A larger spare buffer is let go: a connection keeps at most this much between responses.
  public static let spareCapacity = 4096

  /// `context` is the context of the last handler that frames pass (the connection's handler); it
  /// must be on its event loop.
  public init(context: ChannelHandlerContext) {
    self.channel = context.channel
    self.context = NIOLoopBoundBox(context, eventLoop: context.eventLoop)
    self.order = LoopOrder(loop: context.eventLoop)
    self.allocator = context.channel.allocator
    self.spare = NIOLoopBoundBox(nil, eventLoop: context.eventLoop)
  }

  /// Lets go of the handler's context, on the event loop, once the handler is out of the pipeline
  /// (`handlerRemoved`). The context keeps its handler alive: a handler that keeps this writer,
  /// directly or not, would otherwise never be freed after its connection closed. Later writes fail
  /// with `ChannelError.ioOnClosedChannel`.
  public func detach() {
    context.value = nil
    spare.value = nil
  }

  /// Writes the frame `encode` appends to an empty buffer. On the event loop with nothing queued
  /// ahead, the buffer is the connection's spare one: once the socket has taken its bytes (the usual
  /// case for a small frame), the channel lets go of it and the next frame reuses it, without
  /// allocating. A buffer the channel still holds is never written over: `clear()` then gives a new one.
  /// Inlined into its callers in this module, and `encode` with it (otherwise an indirect call per
  /// frame on the read path).
  @inline(__always)
  public func writeAndFlush(encoding encode: (inout ByteBuffer) -> Void) {
    guard order.canWriteNow() else {
      var frame = allocator.buffer(capacity: 0)
      encode(&frame)
      writeAndFlush(frame, promise: nil)
      return
    }
    var frame = spare.value ?? allocator.buffer(capacity: 0)
    spare.value = nil  // the only reference, so that clear() keeps the storage
    frame.clear()
    encode(&frame)
    Self.write(frame, nil, context)
    if frame.capacity <= Self.spareCapacity { spare.value = frame }
  }

  /// Writes a unary call's OK frame (`SuccessFrame`).
  public func writeSuccess(callID: UInt64, payload: Data) {
    writeAndFlush { SuccessFrame.encode(callID: callID, payload: payload, into: &$0) }
  }

  public func writeAndFlush(_ frame: ByteBuffer, promise: EventLoopPromise<Void>?) {
    if order.canWriteNow() {
      Self.write(frame, promise, context)
    } else {
      order.enqueue { [context] in Self.write(frame, promise, context) }
    }
  }

  private static func write(
    _ frame: ByteBuffer, _ promise: EventLoopPromise<Void>?, _ context: NIOLoopBoundBox<ChannelHandlerContext?>
  ) {
    if let c = context.value {
      c.writeAndFlush(NIOAny(frame), promise: promise)
    } else {
      promise?.fail(ChannelError.ioOnClosedChannel)
    }
  }
}
