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
    router.unary("/practice.rpc.v1.Reflection/Describe", mutation: false) {
      (ctx: CallContext, _: Practice_Rpc_V1_DescribeRequest) -> Practice_Rpc_V1_DescribeResponse in
      var resp = Practice_Rpc_V1_DescribeResponse()
      resp.fileDescriptorSet = PracticeDescriptorSet.bytes
      resp.methods = servedMethods()
      resp.serverVersion = PracticeVersion.string
      return resp
    }
    router.unary("/practice.rpc.v1.Metrics/Get", mutation: false) {
      (ctx: CallContext, _: Practice_Rpc_V1_MetricsRequest) -> Practice_Rpc_V1_MetricsResponse in
      guard ctx.peer.peerClass == .operator else {
        throw RPCError.permissionDenied(.roleRequired, "metrics are for operator peers")
      }
      var resp = Practice_Rpc_V1_MetricsResponse()
      resp.text = await metricsText()
      return resp
    }
    router.read("/practice.rpc.v1.Health/Check") {
      (ctx: CallContext, _: Practice_Rpc_V1_HealthCheckRequest) -> Practice_Rpc_V1_HealthCheckResponse in
      var resp = Practice_Rpc_V1_HealthCheckResponse()
      resp.status = env.health.serving ? .serving : .notServing
      return resp
    }
    router.unary("/practice.test.v1.TestControl/Sleep", mutation: false) {
      (ctx: CallContext, req: Practice_Test_V1_SleepRequest) -> Practice_Test_V1_SleepResponse in
      try requireOperator(ctx)
      try await Task.sleep(for: .milliseconds(Int(req.durationMs)))
      var resp = Practice_Test_V1_SleepResponse()
      resp.sleptMs = req.durationMs
      return resp
    }
    router.unary("/practice.test.v1.TestControl/SetStoreReadOnly", mutation: false) {
      (ctx: CallContext, req: Practice_Test_V1_SetStoreReadOnlyRequest) -> Practice_Test_V1_SetStoreReadOnlyResponse in
      try requireOperator(ctx)
      try await env.store.setReadOnly(req.readOnly)
      ctx.logger.warning("test hook: the store is \(req.readOnly ? "read-only" : "writable again")")
      return Practice_Test_V1_SetStoreReadOnlyResponse()
    }
    router.unary("/practice.test.v1.TestClock/Advance", mutation: false) {
      (ctx: CallContext, req: Practice_Test_V1_AdvanceRequest) -> Practice_Test_V1_AdvanceResponse in
      try requireOperator(ctx)
      guard req.byMs > 0 else { throw RPCError.invalidArgument(field: "by_ms", "must be positive") }
      env.clock.advance(byMs: req.byMs)
      var resp = Practice_Test_V1_AdvanceResponse()
      resp.jobsRun = try await runDueWork()
      resp.nowMs = env.clock.nowMs()
      return resp
    }
  }

  private func requireOperator(_ ctx: CallContext) throws {
    guard ctx.peer.peerClass == .operator else {
      throw RPCError.permissionDenied(.roleRequired, "test hooks are for operator peers")
    }
  }
}
