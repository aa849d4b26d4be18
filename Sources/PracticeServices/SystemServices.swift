import Foundation
import PracticeCore
import PracticeProto
import PracticeStore

/// practice.rpc.v1.Reflection, practice.rpc.v1.Health and the --test-hooks methods.
struct SystemServices {
  let env: ServiceEnvironment
  /// Filled in after the router is built (Describe lists the served methods).
  let servedMethods: @Sendable () -> [String]
  /// Runs the scheduled work that became due (TestClock/Advance).
  let runDueWork: @Sendable () async throws -> UInt32
  /// The daemon's metrics in the Prometheus text format.
  let metricsText: @Sendable () async -> String

  func register(into router: inout Router) {
    Reflection(servedMethods: servedMethods).register(into: &router)
    Health(env: env).register(into: &router)
    Metrics(metricsText: metricsText).register(into: &router)
    TestControl(env: env).register(into: &router)
    TestClock(env: env, runDueWork: runDueWork).register(into: &router)
  }

  struct Reflection: ReflectionHandler {
    let servedMethods: @Sendable () -> [String]

    func describe(_ req: Practice_Rpc_V1_DescribeRequest, context ctx: CallContext) async throws
      -> Practice_Rpc_V1_DescribeResponse
    {
      var resp = Practice_Rpc_V1_DescribeResponse()
      resp.fileDescriptorSet = PracticeDescriptorSet.bytes
      resp.methods = servedMethods()
      resp.serverVersion = PracticeVersion.string
      return resp
    }
  }

  struct Health: HealthHandler {
    let env: ServiceEnvironment

    func check(_ req: Practice_Rpc_V1_HealthCheckRequest, context ctx: CallContext) async throws
      -> Practice_Rpc_V1_HealthCheckResponse
    {
      var resp = Practice_Rpc_V1_HealthCheckResponse()
      resp.status = env.health.serving ? .serving : .notServing
      return resp
    }
  }

  struct Metrics: MetricsHandler {
    let metricsText: @Sendable () async -> String

    func get(_ req: Practice_Rpc_V1_MetricsRequest, context ctx: CallContext) async throws -> Practice_Rpc_V1_MetricsResponse {
      guard ctx.peer.peerClass == .operator else {
        throw RPCError.permissionDenied(.roleRequired, "metrics are for operator peers")
      }
      var resp = Practice_Rpc_V1_MetricsResponse()
      resp.text = await metricsText()
      return resp
    }
  }

  struct TestControl: TestControlHandler {
    let env: ServiceEnvironment

    func sleep(_ req: Practice_Test_V1_SleepRequest, context ctx: CallContext) async throws -> Practice_Test_V1_SleepResponse {
      try requireOperator(ctx)
      try await Task.sleep(for: .milliseconds(Int(req.durationMs)))
      var resp = Practice_Test_V1_SleepResponse()
      resp.sleptMs = req.durationMs
      return resp
    }

    func setStoreReadOnly(_ req: Practice_Test_V1_SetStoreReadOnlyRequest, context ctx: CallContext) async throws
      -> Practice_Test_V1_SetStoreReadOnlyResponse
    {
      try requireOperator(ctx)
      guard let faults = env.store as? any StoreFaultInjection else {
        throw RPCError(.unimplemented, .notImplemented, "this store has no fault injection")
      }
      try await faults.setReadOnly(req.readOnly)
      ctx.logger.warning("test hook: the store is \(req.readOnly ? "read-only" : "writable again")")
      return Practice_Test_V1_SetStoreReadOnlyResponse()
    }
  }

  struct TestClock: TestClockHandler {
    let env: ServiceEnvironment
    let runDueWork: @Sendable () async throws -> UInt32

    func advance(_ req: Practice_Test_V1_AdvanceRequest, context ctx: CallContext) async throws -> Practice_Test_V1_AdvanceResponse {
      try requireOperator(ctx)
      guard req.byMs > 0 else { throw RPCError.invalidArgument(field: "by_ms", "must be positive") }
      try await env.clock.advance(byMs: req.byMs)
      var resp = Practice_Test_V1_AdvanceResponse()
      resp.jobsRun = try await runDueWork()
      resp.nowMs = try await env.clock.nowMs()
      return resp
    }
  }
}

/// Test hooks are for operator peers.
private func requireOperator(_ ctx: CallContext) throws {
  guard ctx.peer.peerClass == .operator else {
    throw RPCError.permissionDenied(.roleRequired, "test hooks are for operator peers")
  }
}
