import Foundation
import PracticeCore
import PracticeProto
import Testing

@Suite("Control characters")
struct ControlCharacterTests {
  @Test("C0, DEL and C1 controls are escaped for terminals and journal lines; other text is unchanged")
  func escaped() {
    #expect(ControlCharacters.escaped("a\nb\tc\rd") == "a\\nb\\tc\\rd")
    #expect(ControlCharacters.escaped("\u{1b}[31mred\u{7}") == "\\u{1b}[31mred\\u{7}")
    #expect(ControlCharacters.escaped("del\u{7f} csi\u{9b} nel\u{85}") == "del\\u{7f} csi\\u{9b} nel\\u{85}")
    let plain = "O'Brien; DROP TABLE x; -- ñ 東京 😀 \\ %_"
    #expect(ControlCharacters.escaped(plain) == plain)
    #expect(!ControlCharacters.escaped("one\ntwo\u{2028}").contains("\n"))
  }
}

@Suite("Status and errors")
struct StatusTests {
  @Test("RPCError round-trips through the wire Status")
  func roundTrip() throws {
    let e = RPCError(.failedPrecondition, .roomConflict, "conflict",
                     violations: [FieldViolation(field: "start_ms", description: "overlaps")], detail: Data([9]))
    let back = try #require(RPCError(status: e.status))
    #expect(back == e)
    #expect(RPCError(status: .ok) == nil)
  }

  @Test("status code names are gRPC's")
  func names() {
    #expect(StatusCode.failedPrecondition.name == "FAILED_PRECONDITION")
    #expect(StatusCode.allCases.count == 17)
    #expect(StatusCode.name(of: 99) == "CODE_99")
  }
}

@Suite("String fields")
struct StringFieldTests {
  @Test("paths name nested and repeated fields")
  func paths() {
    var r = Practice_V1_UpdateBusinessInfoRequest()
    r.accountID = "acct_1"
    r.updateMask = ["practice_name", "address.city"]
    r.businessInfo.practiceName = "Harbor"
    r.businessInfo.address.city = "Boston"
    var seen: [String: String] = [:]
    StringFields.forEach(in: r) { path, value in seen[path] = value }
    #expect(seen == [
      "account_id": "acct_1", "update_mask[0]": "practice_name", "update_mask[1]": "address.city",
      "business_info.practice_name": "Harbor", "business_info.address.city": "Boston",
    ])
  }

  @Test("U+0000 is found and named")
  func nul() {
    var r = Practice_V1_AddUserRequest()
    r.accountID = "a"
    r.name = "Sam\u{0}Smith"
    #expect(StringFields.nulViolation(in: r)?.field == "name")
    r.name = "Sam"
    #expect(StringFields.nulViolation(in: r) == nil)
  }
}
