import Foundation
import PracticeProto
import Testing

@testable import practicectl

@Suite("practicectl output and input")
struct OutputTests {
  @Test("money in the currency's own minor units, the sign right between -1 and 0")
  func money() {
    #expect(Names.money(5900, "USD") == "USD 59.00")
    #expect(Names.money(-50, "USD") == "USD -0.50")
    #expect(Names.money(-1, "USD") == "USD -0.01")
    #expect(Names.money(0, "USD") == "USD 0.00")
    #expect(Names.money(5900, "JPY") == "JPY 5900")
    #expect(Names.money(-7, "JPY") == "JPY -7")
    #expect(Names.money(1234, "KWD") == "KWD 1.234")
    #expect(Names.money(5, "KWD") == "KWD 0.005")
  }

  @Test("tables align by display width: a CJK character takes two columns, a combining mark none")
  func width() {
    #expect(Output.displayWidth("Dana") == 4)
    #expect(Output.displayWidth("山田太郎") == 8)
    #expect(Output.displayWidth("José") == 4)
    #expect(Output.displayWidth("Jose\u{301}") == 4)
    #expect(Output.displayWidth("김민준") == 6)
  }

  @Test("times in the account's zone across both DST changes; a time without an offset is read there")
  func zones() throws {
    let ny = TimeDisplay(zone: TimeZone(identifier: "America/New_York")!, name: "America/New_York")
    // A weekly 10:00 booking before and after the March change: 15:00Z, then 14:00Z.
    let march = try ny.parse("2026-03-02T10:00", "start")
    let april = try ny.parse("2026-04-06 10:00", "start")
    #expect(march == 1_772_463_600_000 && april == 1_775_484_000_000)
    #expect(ny.show(march) == "2026-03-02 10:00" && ny.show(april) == "2026-04-06 10:00")
    let november = try ny.parse("2026-11-02T10:00:00", "start")
    #expect(ny.show(november) == "2026-11-02 10:00")
    #expect(TimeDisplay.utc.show(march) == "2026-03-02 15:00" && TimeDisplay.utc.show(april) == "2026-04-06 14:00")
    #expect(ny.header("START") == "START (America/New_York)")
    // An offset or Unix milliseconds mean what they say, whatever the zone.
    #expect(try ny.parse("2026-03-02T10:00:00-05:00", "start") == march)
    #expect(try ny.parse("1772463600000", "start") == march)
    #expect(throws: (any Error).self) { try ny.parse("next tuesday", "start") }
  }

  @Test("connection options before the subcommand move after it; anything else stays")
  func reorder() {
    #expect(Practicectl.reordered(["--socket", "/s", "health"]) == ["health", "--socket", "/s"])
    #expect(Practicectl.reordered(["--socket=/s", "--json", "account", "get", "a"]) == ["account", "get", "a", "--socket=/s", "--json"])
    #expect(Practicectl.reordered(["account", "get", "a", "--json"]) == ["account", "get", "a", "--json"])
    #expect(Practicectl.reordered(["--version"]) == ["--version"])
    #expect(Practicectl.reordered(["--socket", "/s"]) == ["--socket", "/s"])
  }

  @Test("every connection option may come before the subcommand: the reordering knows each of them")
  func spellingsCoverTheOptions() {
    // The options ConnectionOptions declares, as the parser shows them in any subcommand's help.
    let help = HealthCommand.helpMessage(columns: 1000)
    let declared = Set(help.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "[" || $0 == "]" })
      .map(String.init).filter { $0.hasPrefix("--") && $0 != "--help" && $0 != "--version" })
    #expect(!declared.isEmpty)
    #expect(declared == Set(ConnectionOptions.spellings.keys), "\(declared)")
  }

  @Test("a mistyped subcommand is named with the closest ones")
  func suggestions() {
    #expect(Practicectl.unknownCommand(["acount", "list"]) == "practicectl: unknown command acount; did you mean account?")
    #expect(Practicectl.unknownCommand(["account", "lst"])?.contains("did you mean get or list?") == true)
    #expect(Practicectl.unknownCommand(["zzzz"])?.contains("one of: account, user") == true)
    #expect(Practicectl.unknownCommand(["account", "list", "--json"]) == nil)
    #expect(Practicectl.unknownCommand(["business", "show", "a"]) == nil)  // the alias of get
    #expect(Practicectl.editDistance("kitten", "sitting") == 3 && Practicectl.editDistance("", "ab") == 2)
  }

  @Test("JSON with every field: defaults filled in, presence kept, and still proto3 JSON")
  func fullJSON() throws {
    var user = Practice_V1_User()
    user.userID = "user_1"
    let object = try #require(try FullJSON.object(user) as? [String: Any])
    #expect(object["active"] as? Bool == false && object["email"] as? String == "" && object["version"] as? String == "0")
    #expect((object["roles"] as? [Any])?.isEmpty == true)
    var list = Practice_V1_ListInvoicesResponse()
    #expect(try FullJSON.string(list) == #"{"invoices":[],"nextPageToken":""}"#)
    var invoice = Practice_V1_Invoice()
    invoice.invoiceID = "inv_1"
    list.invoices = [invoice]
    let text = try FullJSON.string(list)
    #expect(text.contains(#""status":"INVOICE_STATUS_UNSPECIFIED""#) && text.contains(#""amountMinor":"0""#))
    #expect(try Practice_V1_ListInvoicesResponse(jsonString: text) == list)
    // A message field with presence stays absent when unset.
    #expect(!(try FullJSON.string(Practice_V1_GetAccountResponse())).contains("account"))
  }
}

@Suite("claim profile fixes")
struct ClaimFixTests {
  static let fields = [
    "business_info.legal_name", "business_info.npi", "business_info.npi_entity_type", "business_info.billing_provider_type",
    "business_info.taxonomy_code", "business_info.tax_id", "business_info.address", "business_info.address.line1",
    "business_info.address.zip", "business_info.billing_provider_address.zip", "user.npi", "user.taxonomy_code", "user.roles",
    "user.active", "location.archived", "location.address", "location.address.zip", "location.pos_code", "payer_pos_rule",
    "payer_pos_rule.home_pos_code", "payer_pos_rule.not_home_pos_code",
  ]

  @Test("every command a problem names parses as practicectl's own command line", arguments: fields)
  func parses(_ field: String) throws {
    var p = Practice_V1_ClaimProblem()
    p.field = field
    p.resourceID = "res_1"
    let fix = ClaimCommand.fix(p, account: "acct_1")
    #expect(fix.hasPrefix("practicectl "), "\(field): \(fix)")
    // The words before a remark in parentheses are the command.
    let command = fix.components(separatedBy: " (").first!.split(separator: " ").dropFirst().map(String.init)
    #expect(throws: Never.self, "\(field): \(fix)") { _ = try Practicectl.parseAsRoot(command) }
  }
}
