import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// Writes, from the services of the files protoc hands it, into the generated API target:
/// - `PracticeProto/Generated/MethodCatalog.swift`: every method, in file order, with its Swift
///   request and response types, whether it streams and whether it has side effects (the standard
///   `idempotency_level` option: `NO_SIDE_EFFECTS` marks a read);
/// - `PracticeProto/Generated/Services.swift`: per service, the protocol its server implements (one
///   function per method, registered by `register(into:)`) and a typed client generic over a
///   `ClientTransport` (the socket connection, or the in-process transport).
/// Paths are relative to `--practice_out` (the package's `Sources`).
struct PracticeGenerator: CodeGenerator {
  func generate(
    files: [FileDescriptor], parameter: any CodeGeneratorParameter,
    protoCompilerContext: any ProtoCompilerContext, generatorOutputs: any GeneratorOutputs
  ) throws {
    let namer = SwiftProtobufNamer(
      currentFile: files[0], protoFileToModuleMappings: ProtoFileToModuleMappings())
    try generatorOutputs.add(
      fileName: "PracticeProto/Generated/MethodCatalog.swift",
      contents: catalog(files.flatMap(\.services), namer: namer))
    try generatorOutputs.add(
      fileName: "PracticeProto/Generated/Services.swift",
      contents: services(files.flatMap(\.services), namer: namer))
  }

  var supportedFeatures: [Google_Protobuf_Compiler_CodeGeneratorResponse.Feature] { [.proto3Optional] }

  /// One RPC as the generated code names it.
  struct Method {
    let path: String
    let name: String
    let request: String
    let response: String
    let serverStreaming: Bool
    let sideEffects: Bool
    /// A paged list: the request has `page_token`, the response `next_page_token`.
    let paged: Bool

    init(service: ServiceDescriptor, method: MethodDescriptor, namer: SwiftProtobufNamer) {
      paged = method.inputType.fields.contains { $0.name == "page_token" && $0.type == .string }
        && method.outputType.fields.contains { $0.name == "next_page_token" && $0.type == .string }
      path = "/\(service.fullName)/\(method.name)"
      name = method.name
      request = namer.fullName(message: method.inputType)
      response = namer.fullName(message: method.outputType)
      serverStreaming = method.serverStreaming
      sideEffects = method.options.idempotencyLevel != .noSideEffects
    }

    /// The Swift name of the method's functions and descriptor: the method's, lower-case first letter.
    var functionName: String { name.prefix(1).lowercased() + name.dropFirst() }
  }

  /// The catalog's types, written before the list: the generated API target holds generated code only.
  static let catalogTypes = """
    /// One RPC method: its path on the wire and its message types.
    /// `@unchecked`: metatypes of messages are immutable, but `any Message.Type` is not declared Sendable.
    public struct MethodDescriptor: @unchecked Sendable, Hashable {
      /// "/practice.v1.AccountService/CreateAccount"
      public let path: String
      public let requestType: any SwiftProtobuf.Message.Type
      public let responseType: any SwiftProtobuf.Message.Type
      public let serverStreaming: Bool
      /// False for a read (`option idempotency_level = NO_SIDE_EFFECTS` in proto/).
      public let hasSideEffects: Bool

      public init(
        _ path: String, _ requestType: any SwiftProtobuf.Message.Type,
        _ responseType: any SwiftProtobuf.Message.Type, serverStreaming: Bool, hasSideEffects: Bool
      ) {
        self.path = path
        self.requestType = requestType
        self.responseType = responseType
        self.serverStreaming = serverStreaming
        self.hasSideEffects = hasSideEffects
      }

      /// "practice.v1.AccountService"
      public var service: String {
        let trimmed = path.dropFirst()
        return String(trimmed[..<(trimmed.firstIndex(of: "/") ?? trimmed.endIndex)])
      }

      /// "CreateAccount"
      public var name: String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }

      /// Whether the method exists only with `--test-hooks`.
      public var isTestOnly: Bool { path.hasPrefix("/practice.test.") }

      public static func == (a: MethodDescriptor, b: MethodDescriptor) -> Bool { a.path == b.path }
      public func hash(into h: inout Hasher) { h.combine(path) }
    }

    /// Every method declared in proto/.
    public enum MethodCatalog {
      private static let byPath: [String: MethodDescriptor] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.path, $0) })

      /// The method with this path, if declared.
      public static func method(_ path: String) -> MethodDescriptor? { byPath[path] }

      /// Looks a method up by a full path, "Service/Method", "package.Service/Method" or a bare method
      /// name when that name is unique (for `practicectl call`).
      public static func lookup(_ name: String) -> MethodDescriptor? {
        if let m = byPath[name] { return m }
        if let m = byPath["/" + name] { return m }
        let matches = all.filter {
          $0.path.hasSuffix("/" + name) || $0.path.hasSuffix("." + name)
        }
        return matches.count == 1 ? matches[0] : nil
      }
    }

    """

  func catalog(_ services: [ServiceDescriptor], namer: SwiftProtobufNamer) -> String {
    var p = CodePrinter(indent: "  ".unicodeScalars, addNewlines: true)
    p.print(
      "// DO NOT EDIT. Generated by scripts/gen-proto from the services in proto/.", "",
      "import SwiftProtobuf", "")
    p.print(Self.catalogTypes, newlines: false)
    p.print("extension MethodCatalog {")
    p.withIndentation { p in
      for service in services {
        p.print("/// The methods of \(service.fullName).", "public enum \(service.name) {")
        p.withIndentation { p in
          for method in service.methods {
            let m = Method(service: service, method: method, namer: namer)
            p.print(
              "public static let \(m.functionName) = MethodDescriptor(",
              "  \"\(m.path)\", \(m.request).self, \(m.response).self,",
              "  serverStreaming: \(m.serverStreaming), hasSideEffects: \(m.sideEffects))")
          }
        }
        p.print("}", "")
      }
      p.print("/// Every method declared in proto/, in file order.", "public static let all: [MethodDescriptor] = [")
      p.withIndentation { p in
        for service in services {
          for method in service.methods {
            p.print("\(service.name).\(Method(service: service, method: method, namer: namer).functionName),")
          }
        }
      }
      p.print("]")
    }
    p.print("}")
    return p.content
  }

  /// The types the per-service code is written against, written before it (the generated API target
  /// holds generated code only).
  static let serviceTypes = """
    /// What a server registers its methods into (the daemon's router). `Context` is what each call
    /// knows besides its request.
    public protocol MethodRegistrar {
      associatedtype Context: Sendable
      mutating func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ method: MethodDescriptor,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response)
      mutating func serverStreaming<Request: SwiftProtobuf.Message, Item: SwiftProtobuf.Message>(
        _ method: MethodDescriptor,
        _ handler: @escaping @Sendable (Request, ServerStreamWriter<Item>, Context) async throws -> Void)
    }

    /// Writes the items of a server-streaming call. `send` returns once the transport took the item
    /// (backpressure) and throws once the call has ended.
    public struct ServerStreamWriter<Item: SwiftProtobuf.Message>: Sendable {
      let sendBytes: @Sendable (Data) async throws -> Void

      public init(sendBytes: @escaping @Sendable (Data) async throws -> Void) {
        self.sendBytes = sendBytes
      }

      public func send(_ item: Item) async throws {
        try await sendBytes(try item.serializedData())
      }
    }

    /// Options of one call, as a client sets them.
    public struct CallOptions: Sendable {
      /// The account user on whose behalf a service peer calls (metadata `actor`).
      public var actor: String?
      /// Makes a mutation safe to retry (metadata `idempotency-key`).
      public var idempotencyKey: String?
      /// Correlation id echoed into the daemon's logs and audit log (metadata `request-id`).
      public var requestID: String?
      /// More metadata entries, sent as given.
      public var metadata: [(String, String)] = []
      /// The call's deadline (`timeout_ms`); nil: the daemon's default for unary calls, none for streams.
      public var timeout: Duration?

      public init(
        actor: String? = nil, idempotencyKey: String? = nil, requestID: String? = nil,
        metadata: [(String, String)] = [], timeout: Duration? = nil
      ) {
        self.actor = actor
        self.idempotencyKey = idempotencyKey
        self.requestID = requestID
        self.metadata = metadata
        self.timeout = timeout
      }

      /// The metadata entries sent: actor, idempotency key and request id first, then `metadata`.
      public var entries: [(String, String)] {
        var out: [(String, String)] = []
        if let actor { out.append(("actor", actor)) }
        if let idempotencyKey { out.append(("idempotency-key", idempotencyKey)) }
        if let requestID { out.append(("request-id", requestID)) }
        return out + metadata
      }

      /// `timeout_ms`: the timeout rounded down to milliseconds, at least 1; 0 (none) without one.
      public var timeoutMs: UInt32 {
        guard let timeout else { return 0 }
        let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        return UInt32(clamping: max(ms, 1))
      }
    }

    /// How a typed client reaches a server: encoded requests in, encoded responses out. A non-OK
    /// status is thrown.
    public protocol ClientTransport: Sendable {
      func unary(method: String, payload: Data, options: CallOptions) async throws -> Data
      /// The items of a server-streaming call, then its end (an error for a non-OK final status).
      /// Ending the iteration early cancels the call.
      func serverStream(method: String, payload: Data, options: CallOptions) -> AsyncThrowingStream<Data, Error>
    }

    /// The items of a typed server stream.
    public typealias ServerStream<Item> = AsyncThrowingMapSequence<AsyncThrowingStream<Data, Error>, Item>

    /// Every page of a paged list, each fetched when the iteration asks for it: the request goes out
    /// again with each response's `next_page_token` until a page comes back without one.
    public struct Pages<Page: Sendable>: AsyncSequence, Sendable {
      public typealias Element = Page
      @usableFromInline let firstToken: String
      @usableFromInline let fetch: @Sendable (String) async throws -> (page: Page, next: String)

      @inlinable
      public init(firstToken: String, fetch: @escaping @Sendable (String) async throws -> (page: Page, next: String)) {
        self.firstToken = firstToken
        self.fetch = fetch
      }

      public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline var token: String?
        @usableFromInline let fetch: @Sendable (String) async throws -> (page: Page, next: String)

        @usableFromInline
        init(token: String?, fetch: @escaping @Sendable (String) async throws -> (page: Page, next: String)) {
          self.token = token
          self.fetch = fetch
        }

        @inlinable
        public mutating func next() async throws -> Page? {
          guard let current = token else { return nil }
          let (page, next) = try await fetch(current)
          token = next.isEmpty ? nil : next
          return page
        }
      }

      @inlinable
      public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(token: firstToken, fetch: fetch) }
    }

    """

  func services(_ services: [ServiceDescriptor], namer: SwiftProtobufNamer) -> String {
    var p = CodePrinter(indent: "  ".unicodeScalars, addNewlines: true)
    p.print(
      "// DO NOT EDIT. Generated by scripts/gen-proto from the services in proto/.", "",
      "import Foundation", "import SwiftProtobuf", "")
    p.print(Self.serviceTypes, newlines: false)
    for service in services {
      let methods = service.methods.map { Method(service: service, method: $0, namer: namer) }
      p.print(
        "/// What a server of \(service.fullName) implements: one function per method.",
        "public protocol \(service.name)Handler: Sendable {")
      p.withIndentation { p in
        p.print("associatedtype Context: Sendable")
        for m in methods {
          if m.serverStreaming {
            p.print(
              "func \(m.functionName)(_ request: \(m.request), writer: ServerStreamWriter<\(m.response)>, context: Context) async throws")
          } else {
            p.print("func \(m.functionName)(_ request: \(m.request), context: Context) async throws -> \(m.response)")
          }
        }
      }
      p.print("}", "", "extension \(service.name)Handler {")
      p.withIndentation { p in
        p.print(
          "/// Registers every method of \(service.fullName).",
          "@inlinable",
          "public func register<Registrar: MethodRegistrar>(into registrar: inout Registrar) where Registrar.Context == Context {")
        p.withIndentation { p in
          for m in methods {
            let d = "MethodCatalog.\(service.name).\(m.functionName)"
            if m.serverStreaming {
              p.print("registrar.serverStreaming(\(d)) { try await self.\(m.functionName)($0, writer: $1, context: $2) }")
            } else {
              p.print("registrar.unary(\(d)) { try await self.\(m.functionName)($0, context: $1) }")
            }
          }
        }
        p.print("}")
      }
      p.print("}", "")

      p.print(
        "/// Typed calls of \(service.fullName).",
        "public struct \(service.name)Client<Transport: ClientTransport>: Sendable {")
      p.withIndentation { p in
        p.print(
          "public let transport: Transport",
          "public init(_ transport: Transport) { self.transport = transport }")
        for m in methods {
          if m.serverStreaming {
            p.print(
              "@inlinable",
              "public func \(m.functionName)(_ request: \(m.request), options: CallOptions = .init()) throws -> ServerStream<\(m.response)> {")
            p.withIndentation { p in
              p.print(
                "transport.serverStream(method: \"\(m.path)\", payload: try request.serializedData(), options: options)",
                "  .map { try \(m.response)(serializedBytes: $0) }")
            }
          } else {
            p.print(
              "@inlinable",
              "public func \(m.functionName)(_ request: \(m.request) = .init(), options: CallOptions = .init()) async throws -> \(m.response) {")
            p.withIndentation { p in
              p.print(
                "let payload = try await transport.unary(method: \"\(m.path)\", payload: try request.serializedData(), options: options)",
                "return try \(m.response)(serializedBytes: payload)")
            }
          }
          p.print("}")
          if m.paged {
            p.print(
              "/// Every page of \(m.name), from the request's page token to the last page.",
              "@inlinable",
              "public func \(m.functionName)Pages(_ request: \(m.request) = .init(), options: CallOptions = .init()) -> Pages<\(m.response)> {")
            p.withIndentation { p in
              p.print(
                "let transport = self.transport",
                "return Pages(firstToken: request.pageToken) { token in")
              p.withIndentation { p in
                p.print(
                  "var page = request",
                  "page.pageToken = token",
                  "let payload = try await transport.unary(method: \"\(m.path)\", payload: try page.serializedData(), options: options)",
                  "let response = try \(m.response)(serializedBytes: payload)",
                  "return (response, response.nextPageToken)")
              }
              p.print("}")
            }
            p.print("}")
          }
        }
      }
      p.print("}", "")
    }
    return p.content
  }
}

PracticeGenerator().main(nil)
