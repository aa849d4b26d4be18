import CTestSupport
import Foundation
import Glibc
import PracticeClient
import PracticeCore
import PracticeProto
import PracticeTestSupport
import PracticeWire
import SwiftProtobuf
import Synchronization
import Testing

@Suite("Protocol over the socket", .serialized)
struct ProtocolTests {
  @Test("pipelined calls on one connection are answered by call_id, out of order")
  func pipelining() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let order = Shared<[String]>([])
      try await withThrowingTaskGroup(of: Void.self) { g in
        g.addTask {
          _ = try await c.testControl.sleep(Make.sleep(3000))
          order.update { $0.append("sleep") }
        }
        g.addTask {
          try await Task.sleep(for: .milliseconds(50))
          for _ in 0..<5 { _ = try await c.health.check() }
          order.update { $0.append("health") }
        }
        try await g.waitForAll()
      }
      #expect(order.value == ["health", "sleep"])
      await c.close()
    }
  }

  @Test("many pipelined calls on raw frames, all answered once each")
  func rawPipelining() async throws {
    try await withDaemon { d in
      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      try s.request(1, "/practice.test.v1.TestControl/Sleep", Make.sleep(3_000))
      for id in 2...50 { try s.request(UInt64(id), "/practice.rpc.v1.Health/Check", Practice_Rpc_V1_HealthCheckRequest()) }
      var ids: [UInt64] = []
      for _ in 1...50 {
        let r = try await s.read()
        #expect(r.status.code == 0)
        ids.append(r.callID)
      }
      #expect(Set(ids) == Set(1...50))
      #expect(ids.last == 1)
    }
  }

  @Test("a deadline ends a call DEADLINE_EXCEEDED; a cancel ends it CANCELLED")
  func deadlineAndCancel() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      let start = ContinuousClock.now
      await expectRPCError(.deadlineExceeded, .deadlineExceeded) {
        _ = try await c.testControl.sleep(Make.sleep(20_000), options: .init(timeout: .milliseconds(150)))
      }
      #expect(ContinuousClock.now - start < .seconds(5))

      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      try s.request(9, "/practice.test.v1.TestControl/Sleep", Make.sleep(20_000))
      var cancel = Practice_Rpc_V1_Request()
      cancel.callID = 9
      cancel.cancel = true
      try await Task.sleep(for: .milliseconds(50))
      try s.send(cancel)
      let r = try await s.read()
      #expect(r.callID == 9 && r.status.code == StatusCode.cancelled.rawValue && r.status.reason == "CANCELLED")
      // The connection still works; the cancelled call_id can be reused.
      try s.request(9, "/practice.rpc.v1.Health/Check", Practice_Rpc_V1_HealthCheckRequest())
      #expect(try await s.read().status.code == 0)

      // Cancelling the calling task sends a cancel frame.
      let task = Task { try await c.testControl.sleep(Make.sleep(20_000)) }
      try await Task.sleep(for: .milliseconds(100))
      task.cancel()
      await expectRPCError(.cancelled, .cancelled) { _ = try await task.value }
      await c.close()
    }
  }

  @Test("a reused in-flight call_id ends the connection with BAD_CALL_ID")
  func reusedCallID() async throws {
    try await withDaemon { d in
      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      try s.request(5, "/practice.test.v1.TestControl/Sleep", Make.sleep(5_000))
      try s.request(5, "/practice.rpc.v1.Health/Check", Practice_Rpc_V1_HealthCheckRequest())
      let r = try await s.read()
      #expect(r.callID == 0 && r.status.reason == "BAD_CALL_ID" && r.status.code == StatusCode.invalidArgument.rawValue)
      #expect(await s.closed(withinMs: 2000))

      let zero = RawSocket(fd: try d.rawConnect())
      defer { zero.close() }
      try zero.request(0, "/practice.rpc.v1.Health/Check", Practice_Rpc_V1_HealthCheckRequest())
      #expect(try await zero.read().status.reason == "BAD_CALL_ID")
      #expect(await zero.closed(withinMs: 2000))
    }
  }

  @Test("an idle connection is closed; one with an open stream is kept")
  func idleTimeout() async throws {
    try await withDaemon(["--idle-timeout-ms", "400"]) { d in
      let idle = RawSocket(fd: try d.rawConnect())
      defer { idle.close() }
      let watching = RawSocket(fd: try d.rawConnect())
      defer { watching.close() }
      try watching.request(1, "/practice.v1.WatchService/Watch", Practice_V1_WatchRequest())
      let synced = try await watching.read()
      #expect(synced.more && synced.callID == 1)
      #expect(await idle.closed(withinMs: 3000))
      try await Task.sleep(for: .milliseconds(800))
      try watching.request(2, "/practice.rpc.v1.Health/Check", Practice_Rpc_V1_HealthCheckRequest())
      let r = try await watching.read()
      #expect(r.callID == 2 && r.status.code == 0)
    }
  }

  @Test("unknown methods get UNIMPLEMENTED")
  func unknownMethod() async throws {
    try await withDaemon { d in
      let c = try await d.connect()
      await expectRPCError(.unimplemented, .unknownMethod) {
        _ = try await c.unary(method: "/practice.v1.NoSuchService/Nothing", payload: Data())
      }
      await expectRPCError(.invalidArgument, .badPayload) {
        _ = try await c.unary(method: "/practice.v1.AccountService/GetAccount", payload: Data([0xFF, 0xFF]))
      }
      await c.close()
    }
  }

  @Test("an oversize frame gets FRAME_TOO_LARGE then close, while another connection keeps working")
  func oversizeFrame() async throws {
    try await withDaemon(["--max-frame-size", "1024"]) { d in
      let other = try await d.connect()
      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      try s.send([0x00, 0x00, 0x08, 0x00])  // 2048 > 1024; no body follows
      let r = try await s.read()
      #expect(r.callID == 0 && r.status.reason == "FRAME_TOO_LARGE" && r.status.code == StatusCode.resourceExhausted.rawValue)
      #expect(await s.closed(withinMs: 2000))
      #expect(try await other.health.check().status == .serving)
      await other.close()
    }
  }

  @Test("zero-length frames and garbage are BAD_FRAME; a slow frame is FRAME_TIMEOUT")
  func badFrames() async throws {
    try await withDaemon(["--frame-timeout-ms", "300"]) { d in
      let zero = RawSocket(fd: try d.rawConnect())
      defer { zero.close() }
      try zero.send([0, 0, 0, 0])
      #expect(try await zero.read().status.reason == "BAD_FRAME")
      #expect(await zero.closed(withinMs: 2000))

      let junk = RawSocket(fd: try d.rawConnect())
      defer { junk.close() }
      try junk.send([0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
      #expect(try await junk.read().status.reason == "BAD_FRAME")
      #expect(await junk.closed(withinMs: 2000))

      let slow = RawSocket(fd: try d.rawConnect())
      defer { slow.close() }
      try slow.send([0, 0])
      let r = try await slow.read(timeoutMs: 3000)
      #expect(r.callID == 0 && r.status.reason == "FRAME_TIMEOUT" && r.status.code == StatusCode.deadlineExceeded.rawValue)
      #expect(await slow.closed(withinMs: 2000))
    }
  }

  @Test("a partial frame followed by EOF is dropped; calls in flight at EOF are still answered")
  func eof() async throws {
    try await withDaemon { d in
      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      try s.request(1, "/practice.test.v1.TestControl/Sleep", Make.sleep(200))
      try s.send([0, 0, 0, 50, 1, 2])  // partial
      shutdown(s.fd, Int32(SHUT_WR))
      let r = try await s.read()
      #expect(r.callID == 1 && r.status.code == 0)
      #expect(await s.closed(withinMs: 2000))
      #expect(try await d.connect().health.check().status == .serving)
    }
  }

  @Test("connections past the maximum get TOO_MANY_CONNECTIONS")
  func tooManyConnections() async throws {
    try await withDaemon(["--max-connections", "2"]) { d in
      // The start-up probe's connection must be gone first.
      try await Task.sleep(for: .milliseconds(300))
      let a = try await d.connect()
      let b = try await d.connect()
      _ = try await a.health.check()
      _ = try await b.health.check()
      let s = RawSocket(fd: try d.rawConnect())
      defer { s.close() }
      let r = try await s.read()
      #expect(r.callID == 0 && r.status.reason == "TOO_MANY_CONNECTIONS" && r.status.code == StatusCode.resourceExhausted.rawValue)
      #expect(await s.closed(withinMs: 2000))
      await a.close()
      try await Task.sleep(for: .milliseconds(200))
      let c = try await d.connect()
      #expect(try await c.health.check().status == .serving)
      await b.close()
      await c.close()
    }
  }

  @Test("the daemon binds its socket with mode 0660")
  func socketMode() async throws {
    try await withDaemon { d in
      let attrs = try FileManager.default.attributesOfItem(atPath: d.socketPath)
      #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o660)
    }
  }

  @Test("Describe lists the served methods and a FileDescriptorSet; Health says SERVING")
  func describe() async throws {
    try await withDaemon { d in
      let c = try await d.connect(as: .service)
      let r = try await c.reflection.describe()
      #expect(r.methods.contains("/practice.v1.AccountService/CreateAccount"))
      #expect(r.methods.contains("/practice.test.v1.TestControl/Sleep"))
      let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: r.fileDescriptorSet)
      #expect(set.file.contains { $0.name == "practice/rpc/v1/rpc.proto" })
      #expect(try await c.health.check().status == .serving)
      await c.close()
    }
  }

  @Test("SIGTERM: in-flight calls finish, the daemon exits cleanly and removes its socket")
  func gracefulShutdown() async throws {
    let d = try await TestDaemon()
    let c = try await d.connect()
    let call = Task { try await c.testControl.sleep(Make.sleep(500)) }
    // The call is in flight at the daemon: it was written before a Health check that came back
    // (one connection's frames arrive in order).
    while c.inFlight == 0 { try await Task.sleep(for: .milliseconds(5)) }
    _ = try await c.health.check()
    let status = await d.stop()
    #expect(status == 0)
    #expect(try await call.value.sleptMs == 500)
    #expect(!FileManager.default.fileExists(atPath: d.socketPath))
    #expect(d.log.contains("stopped"))
    await c.close()
    await d.cleanUp()
  }

  @Test("a client written without the Swift library creates an account and reads it back")
  func rawClient() async throws {
    try await withDaemon(["--operator-uids", "0"]) { d in
      let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("RawClient/raw_client.py").path
      let r = try await runCommand("python3", [script, d.socketPath, "Raw Bytes Clinic"])
      let id = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(r.status == 0, "\(r.err)")
      #expect(id.hasPrefix("acct_"))
      let c = try await d.connect()
      #expect(try await c.accounts.getAccount(Make.get(id)).account.practiceName == "Raw Bytes Clinic")
      await c.close()
    }
  }
}
