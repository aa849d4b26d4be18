import CoreMetrics
import Foundation

/// The dispatcher's metrics (swift-metrics; the daemon exports them in the Prometheus text format):
/// requests by method and status code, a latency histogram per method, and the calls in flight.
/// The handles of a method's successful calls are made once, with the dispatcher; an error's counter
/// is looked up when it happens.
public struct CallMetrics: Sendable {
  public static let requests = "practiced_requests_total"
  public static let duration = "practiced_request_duration_seconds"
  public static let inFlight = "practiced_calls_in_flight"

  let method: String
  private let ok: Counter
  private let latency: CoreMetrics.Timer

  init(method: String) {
    self.method = method
    ok = Counter(label: Self.requests, dimensions: [("method", method), ("code", StatusCode.ok.name)])
    latency = CoreMetrics.Timer(label: Self.duration, dimensions: [("method", method)])
  }

  /// A method path that is not served is counted under one label, so that a client cannot create
  /// series at will.
  static let unknown = CallMetrics(method: "unknown")

  /// Counts one finished call that started at `start` (`DispatchTime` nanoseconds).
  func record(_ error: RPCError?, start: UInt64) {
    if let error {
      Counter(label: Self.requests, dimensions: [("method", method), ("code", error.code.name)]).increment()
    } else {
      ok.increment()
    }
    latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds &- start))
  }

  /// Calls whose handlers are running (every call, while the dispatcher runs it).
  static let running = Meter(label: inFlight)
}
