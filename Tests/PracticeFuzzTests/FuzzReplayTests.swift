import Foundation
import PracticeFuzz
import Testing

/// Replays the committed fuzz regression corpus (Fuzz/FailCases/<target>/) through the same entry
/// points the fuzz targets use. A target without a seed fails: the corpus must not silently vanish.
@Suite("Fuzz regression corpus")
struct FuzzReplayTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/FailCases")

  static func inputs(_ target: String) throws -> [(String, [UInt8])] {
    let dir = root.appendingPathComponent(target)
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    return try names.map { ($0, Array(try Data(contentsOf: dir.appendingPathComponent($0)))) }
  }

  @Test("frames: every seed replays", arguments: ["frames"])
  func frames(_ target: String) throws {
    let inputs = try Self.inputs(target)
    #expect(!inputs.isEmpty, "Fuzz/FailCases/\(target) has no seed")
    for (_, data) in inputs { FuzzEntries.frames(data) }
  }

  @Test("envelope: every seed replays")
  func envelope() throws {
    let inputs = try Self.inputs("envelope")
    #expect(!inputs.isEmpty, "Fuzz/FailCases/envelope has no seed")
    for (_, data) in inputs { FuzzEntries.envelope(data) }
  }

  @Test("dispatch: every seed replays")
  func dispatch() async throws {
    let inputs = try Self.inputs("dispatch")
    #expect(!inputs.isEmpty, "Fuzz/FailCases/dispatch has no seed")
    for (_, data) in inputs { await FuzzEntries.dispatch(data) }
  }

  @Test("random inputs never crash the frame and envelope entries")
  func random() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      let data = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      FuzzEntries.frames(data)
      FuzzEntries.envelope(data)
    }
  }
}
