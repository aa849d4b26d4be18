import Foundation
import Logging
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

/// A dispatcher over handlers written here (no services, no store): TestControl/Sleep sleeps and
/// records whether its task was cancelled; Health/Check answers; Watch sends `after_sequence` items.
private struct Fixture {
  let cancelled = LockedState(0)
  let dispatcher: Dispatcher

  init() {
    var router = Router()
    let cancelled = self.cancelled
    router.unary(MethodCatalog.TestControl.sleep) { (req: Practice_Test_V1_SleepRequest, _: CallContext) in
      do {
        try await Task.sleep(for: .milliseconds(Int(req.durationMs)))
      } catch {
        cancelled.withLock { $0 += 1 }
        throw error
      }
      var resp = Practice_Test_V1_SleepResponse()
      resp.sleptMs = req.durationMs
      return resp
    }
    router.unary(MethodCatalog.Health.check) { (_: Practice_Rpc_V1_HealthCheckRequest, ctx: CallContext) in
      var resp = Practice_Rpc_V1_HealthCheckResponse()
      resp.status = ctx.actor == "sam" ? .serving : .notServing
      return resp
    }
    router.serverStreaming(MethodCatalog.WatchService.watch) {
      (req: Practice_V1_WatchRequest, writer: ServerStreamWriter<Practice_V1_WatchEvent>, _: CallContext) in
      for i in 0..<req.afterSequence {
        var e = Practice_V1_WatchEvent()
        e.change.sequence = i + 1
        try await writer.send(e)
      }
      if req.accountID == "forever" {
        do {
          try await Task.sleep(for: .seconds(60))
        } catch {
          cancelled.withLock { $0 += 1 }
          throw error
        }
      }
    }
    dispatcher = Dispatcher(router: router, configuration: .init(testHooks: true))
  }

  func client(_ peerClass: PeerClass = .operator) -> InProcessTransport {
    InProcessTransport(
      dispatcher: dispatcher, peer: Peer(credentials: .init(pid: 1, uid: 1000, gid: 1000), peerClass: peerClass))
  }
}

@Suite("In-process transport")
struct InProcessTransportTests {
  @Test("typed calls reach their handler with the call's metadata; a denied peer and an unknown method are refused as over the socket")
  func calls() async throws {
    let f = Fixture()
    let c = f.client()
    #expect(try await c.health.check(options: .init(actor: "sam")).status == .serving)
    #expect(try await c.testControl.sleep(Make.sleep(1)).sleptMs == 1)
    await #expect(throws: RPCError(.unimplemented, .unknownMethod, "unknown method \"/practice.v1.Nope/Nope\"")) {
      _ = try await c.unary(method: "/practice.v1.Nope/Nope", payload: Data())
    }
    do {
      _ = try await f.client(.denied).testControl.sleep(Make.sleep(1))
      Issue.record("a denied peer was served")
    } catch let e as RPCError {
      #expect(e.code == .permissionDenied && e.reason == .peerNotAllowed)
    }
    // Health/Check is the one method a denied peer may call.
    #expect(try await f.client(.denied).health.check().status == .notServing)
  }

  @Test("a call past its deadline ends DEADLINE_EXCEEDED and its handler's task is cancelled")
  func deadline() async throws {
    let f = Fixture()
    let start = ContinuousClock.now
    do {
      _ = try await f.client().testControl.sleep(Make.sleep(10_000), options: .init(timeout: .milliseconds(50)))
      Issue.record("no deadline")
    } catch let e as RPCError {
      #expect(e.code == .deadlineExceeded)
    }
    // Well before the handler's 10 s sleep would have ended (a guard against waiting for it, not a
    // timing: a loaded machine took 5.02 s for this whole suite).
    #expect(ContinuousClock.now - start < .seconds(9))
    #expect(f.cancelled.withLock { $0 } == 1)
  }

  @Test("cancelling the caller's task ends the call CANCELLED and cancels the handler")
  func cancel() async throws {
    let f = Fixture()
    let c = f.client()
    let call = Task { () async throws -> Practice_Test_V1_SleepResponse in
      try await c.testControl.sleep(Make.sleep(10_000))
    }
    while c.inFlight == 0 { try await Task.sleep(for: .milliseconds(5)) }
    call.cancel()
    do {
      _ = try await call.value
      Issue.record("not cancelled")
    } catch let e as RPCError {
      #expect(e.code == .cancelled)
    }
    #expect(f.cancelled.withLock { $0 } == 1)
    #expect(c.inFlight == 0)
  }

  @Test("a stream delivers its items in order then ends; a consumer that stops early ends the handler")
  func streams() async throws {
    let f = Fixture()
    let c = f.client()
    var req = Practice_V1_WatchRequest()
    req.afterSequence = 5
    var seen: [Int64] = []
    for try await e in try c.watch.watch(req) { seen.append(e.change.sequence) }
    #expect(seen == [1, 2, 3, 4, 5])

    req.accountID = "forever"
    for try await e in try c.watch.watch(req) where e.change.sequence == 2 { break }
    var waited = 0
    while c.inFlight > 0 && waited < 500 {
      try await Task.sleep(for: .milliseconds(10))
      waited += 1
    }
    #expect(c.inFlight == 0)
    #expect(f.cancelled.withLock { $0 } == 1)
  }
}

@Suite("Router")
struct RouterTests {
  @Test("a method marked NO_SIDE_EFFECTS in proto/ is a read, any other unary method a mutation")
  func kinds() {
    var router = Router()
    router.unary(MethodCatalog.BusinessService.getBusinessInfo) {
      (_: Practice_V1_GetBusinessInfoRequest, _: CallContext) in Practice_V1_GetBusinessInfoResponse()
    }
    router.unary(MethodCatalog.BusinessService.updateBusinessInfo) {
      (_: Practice_V1_UpdateBusinessInfoRequest, _: CallContext) in Practice_V1_UpdateBusinessInfoResponse()
    }
    router.startOnConnectionThread(MethodCatalog.BusinessService.getBusinessInfo)
    let d = Dispatcher(router: router)
    let read = try? d.resolve(MethodCatalog.BusinessService.getBusinessInfo.path).get()
    let write = try? d.resolve(MethodCatalog.BusinessService.updateBusinessInfo.path).get()
    #expect(read?.kind == .read && read?.execution == .connectionThread)
    #expect(write?.kind == .mutation && write?.execution == .task)
    #expect(d.inlineRoute(MethodCatalog.BusinessService.getBusinessInfo.path) != nil)
    #expect(d.inlineRoute(MethodCatalog.BusinessService.updateBusinessInfo.path) == nil)
    let gets = MethodCatalog.all.filter { $0.name.hasPrefix("Get") || $0.name.hasPrefix("List") }
    #expect(!gets.isEmpty && gets.allSatisfy { !$0.hasSideEffects })
    let writePrefixes = ["Create", "Update", "Set", "Delete", "Archive"]
    let writes = MethodCatalog.all.filter { m in writePrefixes.contains { m.name.hasPrefix($0) } }
    #expect(!writes.isEmpty && writes.allSatisfy(\.hasSideEffects))
  }
}
