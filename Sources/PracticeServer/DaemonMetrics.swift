import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PracticeCore
import PracticeStore
import PracticeWire
import Prometheus
import ServiceLifecycle

/// The daemon's metrics: swift-metrics handles throughout the code, bootstrapped onto a Prometheus
/// registry that `Metrics/Get`, `practicectl metrics` and the optional HTTP endpoint expose in the
/// text format (docs/OPERATIONS.md, "Monitoring", lists every series).
public final class DaemonMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  private let started = Date()

  private init(registry: PrometheusCollectorRegistry) {
    self.registry = registry
    gauge("build", "info", "1, labelled with the daemon's version", [("version", PracticeVersion.string)]).set(to: 1)
    gauge("start_time", "seconds", "When the daemon started, Unix seconds").set(to: started.timeIntervalSince1970)
  }

  /// Makes the process's metrics system send to a new registry. Once per process, before anything
  /// makes a metric handle (the dispatcher makes its handles when it is built).
  public static func bootstrap() -> DaemonMetrics {
    let registry = PrometheusCollectorRegistry()
    var factory = PrometheusMetricsFactory(registry: registry)
    // Calls take microseconds to seconds; the factory's default buckets start at 5 ms.
    factory.durationHistogramBuckets["practiced_request_duration_seconds"] = [
      .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
      .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
      .milliseconds(250), .seconds(1), .seconds(5),
    ]
    factory.valueHistogramBuckets["practiced_group_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    MetricsSystem.bootstrap(factory)
    return DaemonMetrics(registry: registry)
  }

  /// A gauge of the registry itself (not through swift-metrics): `practiced_NAME_UNIT`.
  private func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
    registry.makeGauge(
      descriptor: MetricNameDescriptor(namespace: "practiced", metricName: name, unitName: unit, helpText: help),
      labels: labels)
  }

  /// The text exposition, with the gauges that are read when asked for: accounts, the database's size.
  func text(store: any Store, database: DatabaseGauge) async -> String {
    if let count = try? await store.read({ r in try r.accountCount() }) {
      gauge("accounts", "", "Accounts in the database, closed ones included").set(to: Double(count))
    }
    if let size = await database.size() {
      gauge("database_size", "bytes", "The database's size in bytes (SQLite: its file, WAL and shared memory)",
            [("backend", database.backend), ("path", database.path)]).set(to: Double(size))
    }
    return registry.emitToString()
  }

  // Series the daemon's own services write.
  static let connections = Meter(label: "practiced_connections")
  static let probeFailures = Counter(label: "practiced_store_errors_total", dimensions: [("reason", "PROBE")])
  static let schedulerRunsOK = Counter(label: "practiced_scheduler_runs_total", dimensions: [("outcome", "ok")])
  static let schedulerRunsFailed = Counter(label: "practiced_scheduler_runs_total", dimensions: [("outcome", "error")])
  static let schedulerDuration = CoreMetrics.Timer(label: "practiced_scheduler_run_duration_seconds")
  static let schedulerJobs = Counter(label: "practiced_scheduler_jobs_total")
  static let schedulerLastRun = Recorder(label: "practiced_scheduler_last_run_timestamp_seconds", aggregate: false)
  static let schedulerLastSuccess = Recorder(label: "practiced_scheduler_last_run_success", aggregate: false)
}

/// The optional Prometheus scrape endpoint (`--metrics-listen HOST:PORT`): `GET /metrics` over
/// HTTP/1.1. Off by default; the unit's `PrivateNetwork=yes` must be changed for it to be reachable.
struct MetricsHTTPServer: Service {
  let host: String
  let port: Int
  let group: EventLoopGroup
  let logger: Logger
  let text: @Sendable () async -> String

  func run() async throws {
    let text = self.text
    let channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 16)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
          channel.pipeline.addHandler(MetricsHTTPHandler(text: text))
        }
      }
      .bind(host: host, port: port).get()
    logger.info("metrics endpoint", metadata: ["listen": "\(host):\(channel.localAddress?.port ?? port)"])
    try await withGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onGracefulShutdown: {
      channel.close(promise: nil)
    }
  }
}

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart
  let text: @Sendable () async -> String

  init(text: @escaping @Sendable () async -> String) { self.text = text }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let request) = unwrapInboundIn(data) else { return }
    let found = request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?"))
    let loop = context.eventLoop
    let bound = NIOLoopBound(context, eventLoop: loop)
    let promise = loop.makePromise(of: String.self)
    if found {
      promise.completeWithTask { await self.text() }
    } else {
      promise.succeed("not found: GET /metrics\n")
    }
    promise.futureResult.whenSuccess { body in
      let context = bound.value
      var headers = HTTPHeaders()
      headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
      headers.add(name: "Content-Length", value: "\(body.utf8.count)")
      headers.add(name: "Connection", value: "close")
      let head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)
      context.write(self.wrapOutboundOut(.head(head)), promise: nil)
      context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
      // One response per connection: scrapes are seconds apart, and nothing is left open.
      let channel = context.channel
      context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
  }
}

/// The database as the metrics show it: its backend, where it is (a file, or a URL without secrets)
/// and how to read its size.
struct DatabaseGauge: Sendable {
  let backend: String
  let path: String
  let size: @Sendable () async -> UInt64?

  static func sqlite(_ path: String) -> DatabaseGauge {
    DatabaseGauge(backend: "sqlite", path: path) {
      var size: UInt64 = 0
      for suffix in ["", "-wal", "-shm"] {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix),
          let bytes = attributes[.size] as? NSNumber
        {
          size += bytes.uint64Value
        }
      }
      return size
    }
  }
}
