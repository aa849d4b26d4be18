import Foundation
import PracticeCore
import PracticeProto
import PracticeTestSupport
import SwiftProtobuf
import Testing

@Suite("System services, in process")
struct SystemServiceTests {
  @Test("Describe lists every declared method with the test hooks on, and the version; Health serves any peer")
  func describeAndHealth() async throws {
    try await withServices { d in
      let op = try await d.connect()
      let described = try await op.reflection.describe()
      #expect(Set(described.methods) == Set(MethodCatalog.all.map(\.path)))
      #expect(described.serverVersion == PracticeVersion.string)
      #expect(!described.fileDescriptorSet.isEmpty)
      #expect(try await d.connect(as: .denied).health.check().status == .serving)
    }
  }

  @Test("Metrics and the test hooks are for operator peers; SetStoreReadOnly refuses writes until undone")
  func operatorOnly() async throws {
    try await withServices { d in
      let op = try await d.connect()
      let svc = try await d.connect(as: .service)
      _ = try await op.metrics.get()
      await expectRPCError(.permissionDenied, .roleRequired) { _ = try await svc.metrics.get() }
      await expectRPCError(.permissionDenied, .roleRequired) { _ = try await svc.testControl.sleep(Make.sleep(1)) }
      var advance = Practice_Test_V1_AdvanceRequest()
      advance.byMs = 1
      await expectRPCError(.permissionDenied, .roleRequired) { _ = try await svc.testClock.advance(advance) }
      advance.byMs = 0
      await expectRPCError(.invalidArgument, .validationFailed) { _ = try await op.testClock.advance(advance) }
      #expect(try await op.testControl.sleep(Make.sleep(5)).sleptMs == 5)

      var readOnly = Practice_Test_V1_SetStoreReadOnlyRequest()
      readOnly.readOnly = true
      _ = try await op.testControl.setStoreReadOnly(readOnly)
      await expectRPCError(.unavailable, .storeUnavailable) { _ = try await op.accounts.createAccount(Make.account()) }
      #expect(try await op.health.check().status == .notServing)
      readOnly.readOnly = false
      _ = try await op.testControl.setStoreReadOnly(readOnly)
      _ = try await op.accounts.createAccount(Make.account())
      #expect(try await op.health.check().status == .serving)
    }
  }
}
