import Foundation
import PracticeCore
import PracticeServer
import PracticeWire
import Testing

@Suite("systemd start timeout")
struct StartTimeoutTests {
  @Test("EXTEND_TIMEOUT_USEC at once and every period while start-up runs; nothing after stop()")
  func extender() async throws {
    let sent = LockedState<[String]>([])
    let extender = StartTimeoutExtender(period: .milliseconds(20), extension: .seconds(7)) { m in
      sent.withLock { $0.append(m) }
    }
    let deadline = ContinuousClock.now + .seconds(10)
    while sent.withLock({ $0.count }) < 4 && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(10))
    }
    extender.stop()
    try await Task.sleep(for: .milliseconds(50))
    let after = sent.withLock { $0 }
    #expect(after.count >= 4)
    #expect(Set(after) == ["EXTEND_TIMEOUT_USEC=7000000"])
    try await Task.sleep(for: .milliseconds(100))
    #expect(sent.withLock { $0.count } == after.count)
  }
}
