import PracticeCore
import PracticeProto
import Testing

@testable import PracticeStore

/// The read cache's coherence rule, alone: the races it closes are too narrow to catch reliably
/// through the services (ClaimServiceTests checks the property under load).
@Suite("Read cache generations")
struct ReadCacheGenerationTests {
  static func business(_ version: Int64) -> Practice_V1_BusinessInfo {
    var b = Practice_V1_BusinessInfo()
    b.accountID = "acct_1"
    b.version = version
    return b
  }

  @Test("a read that noted its generation before a write never takes an entry filled after it, nor fills one")
  func snapshot() {
    let cache = ReadCache()
    let before = cache.generation
    cache.fill(.business("acct_1"), .business(Self.business(1)), generation: before)
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: before)?.value.version == 1)

    // A write commits; a later read fills the entry with what it saw.
    cache.beginWrite()
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: cache.generation) == nil)
    cache.endWrite()
    let after = cache.generation
    cache.fill(.business("acct_1"), .business(Self.business(2)), generation: after)
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: after)?.value.version == 2)

    // The read whose snapshot predates the write reads its own snapshot instead, and leaves the entry alone.
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: before) == nil)
    cache.fill(.business("acct_1"), .business(Self.business(1)), generation: before)
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: after)?.value.version == 2)
  }
}

/// The freshness check the cache makes when other processes write the same database, alone: the
/// sequences come from a table in memory that the test changes (the end-to-end cluster tests check
/// it on PostgreSQL).
@Suite("Read cache freshness batches")
struct FreshnessBatchTests {
  /// Accounts' change sequences, and how many times they were asked for; each answer waits until
  /// the test lets it go, so that checks pile up behind it.
  final class Sequences: StoreFreshness, @unchecked Sendable {
    let table = LockedState<[String: Int64]>([:])
    let asked = LockedState<[[String]]>([])
    let gate = LockedState<[CheckedContinuation<Void, Never>]>([])

    func changeSequences(accounts: [String]) async throws -> [String: Int64] {
      asked.withLock { $0.append(accounts.sorted()) }
      // The answer is what the table held when the question was asked, like a statement's snapshot.
      let snapshot = table.withLock { t in t.filter { accounts.contains($0.key) } }
      await withCheckedContinuation { c in gate.withLock { $0.append(c) } }
      return snapshot
    }

    /// Lets every question asked so far be answered.
    func release() {
      for c in gate.withLock({ g in defer { g = [] }; return g }) { c.resume() }
    }
  }

  func tracker(_ stamps: [String: Int64]) -> StampTracker {
    let t = StampTracker()
    for (account, stamp) in stamps { t.hit(.business(account), stamp: stamp) }
    return t
  }

  @Test("checks asked while one is out wait for the next, which asks for all their accounts in one question")
  func batches() async throws {
    let source = Sequences()
    source.table.withLock { $0 = ["a": 1, "b": 1, "c": 1] }
    let batcher = FreshnessBatcher(source)
    let first = Task { try await batcher.unchanged(tracker(["a": 1])) }
    while source.asked.withLock({ $0.count }) < 1 { await Task.yield() }
    // Asked while the first is out: after the first question began, "a" changed.
    source.table.withLock { $0["a"] = 2 }
    let later = (0..<20).map { i in Task { try await batcher.unchanged(tracker([["a", "b", "c"][i % 3]: 1])) } }
    try await Task.sleep(for: .milliseconds(50))
    #expect(source.asked.withLock { $0.count } == 1)
    source.release()
    #expect(try await first.value == true)  // its question began before the change
    while source.asked.withLock({ $0.count }) < 2 { await Task.yield() }
    source.release()
    var answers: [Bool] = []
    for t in later { answers.append(try await t.value) }
    #expect(source.asked.withLock { $0 } == [["a"], ["a", "b", "c"]])
    // The later checks saw "a" at 2: theirs stamped 1 are out of date; "b" and "c" stand.
    #expect(answers == (0..<20).map { $0 % 3 != 0 })
  }

  @Test("a read that used entries of one account with different stamps is out of date without asking; a gone account too")
  func mixedStamps() async throws {
    let source = Sequences()
    source.table.withLock { $0 = ["a": 3] }
    let batcher = FreshnessBatcher(source)
    let mixed = StampTracker()
    mixed.hit(.business("a"), stamp: 3)
    mixed.hit(.account("a"), stamp: 2)
    #expect(try await batcher.unchanged(mixed) == false)
    #expect(source.asked.withLock { $0.isEmpty })
    #expect(try await batcher.unchanged(StampTracker()) == true)
    let gone = Task { try await batcher.unchanged(tracker(["z": 1])) }
    while source.asked.withLock({ $0.count }) < 1 { await Task.yield() }
    source.release()
    #expect(try await gone.value == false)
  }
}
