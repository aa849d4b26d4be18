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
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: before)?.version == 1)

    // A write commits; a later read fills the entry with what it saw.
    cache.beginWrite()
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: cache.generation) == nil)
    cache.endWrite()
    let after = cache.generation
    cache.fill(.business("acct_1"), .business(Self.business(2)), generation: after)
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: after)?.version == 2)

    // The read whose snapshot predates the write reads its own snapshot instead, and leaves the entry alone.
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: before) == nil)
    cache.fill(.business("acct_1"), .business(Self.business(1)), generation: before)
    #expect(cache.get(.business("acct_1"), as: Practice_V1_BusinessInfo.self, generation: after)?.version == 2)
  }
}
