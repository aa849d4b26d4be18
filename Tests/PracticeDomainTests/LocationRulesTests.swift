import Foundation
import PracticeCore
import PracticeDomain
import PracticeProto
import Testing

@Suite("Place of Service codes")
struct PlaceOfServiceTests {
  /// The compiled table equals data/pos-codes.tsv, row for row (and the project's copy equals the
  /// shared one when it is beside the checkout).
  @Test("the compiled table matches data/pos-codes.tsv")
  func matchesFile() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("data/pos-codes.tsv"), encoding: .utf8)
    let rows = text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    #expect(rows.count == PlaceOfService.all.count)
    for (row, code) in zip(rows, PlaceOfService.all) {
      #expect(row.count == 6)
      #expect(row[0] == code.code && row[1] == code.name && row[2] == code.description)
      #expect((row[3] == "active") == code.active && row[4] == code.effectiveFrom && row[5] == code.effectiveNote)
    }
    #expect(PlaceOfService.all.filter(\.active).count == 52)
    #expect(PlaceOfService.all.filter { !$0.active }.count == 47)
    let shared = root.deletingLastPathComponent().appendingPathComponent("shared/data/pos-codes.tsv")
    if let sharedText = try? String(contentsOf: shared, encoding: .utf8) {
      #expect(sharedText == text, "data/pos-codes.tsv differs from shared/data/pos-codes.tsv: copy it and run scripts/gen-pos-codes")
    }
  }

  @Test("codes are two-digit strings of the set, and assigned")
  func codes() {
    #expect(PlaceOfService.problem(with: "11") == nil)
    #expect(PlaceOfService.problem(with: "02") == nil)
    #expect(PlaceOfService.problem(with: "28") != nil)  // unassigned
    #expect(PlaceOfService.problem(with: "2") != nil)
    #expect(PlaceOfService.problem(with: "002") != nil)
    #expect(PlaceOfService.problem(with: "1a") != nil)
    #expect(PlaceOfService.problem(with: "00") != nil)
  }

  static func location(telehealth: Bool, code: String = "11") -> Practice_V1_Location {
    var l = Practice_V1_Location()
    l.name = telehealth ? "Video" : "Office"
    l.telehealth = telehealth
    l.posCode = code
    if !telehealth {
      var a = Practice_V1_Address()
      a.line1 = "12 Harbor St"
      a.city = "Boston"
      a.state = "MA"
      a.zip = "02134"
      l.address = a
    }
    return l
  }

  static func rule(home: String, notHome: String) -> Practice_V1_PayerPosRule {
    var r = Practice_V1_PayerPosRule()
    r.payerID = "aetna"
    r.payerName = "Aetna"
    r.homePosCode = home
    r.notHomePosCode = notHome
    return r
  }

  @Test("telehealth: 10 at home, 02 otherwise; a payer rule decides first; other locations use their own code")
  func resolution() throws {
    let tele = Self.location(telehealth: true)
    var r = try PlaceOfService.resolve(location: tele, payerRule: nil, patientAtHome: true, dateOfService: "2024-05-01")
    #expect(r.code.code == "10" && r.decidedBy == .telehealthDefault)
    r = try PlaceOfService.resolve(location: tele, payerRule: nil, patientAtHome: false, dateOfService: "2024-05-01")
    #expect(r.code.code == "02")
    r = try PlaceOfService.resolve(location: tele, payerRule: Self.rule(home: "02", notHome: "02"), patientAtHome: true, dateOfService: "2024-05-01")
    #expect(r.code.code == "02" && r.decidedBy == .payerRule)
    r = try PlaceOfService.resolve(location: tele, payerRule: Self.rule(home: "11", notHome: "02"), patientAtHome: true, dateOfService: "2024-05-01")
    #expect(r.code.code == "11" && r.decidedBy == .payerRule)
    let office = Self.location(telehealth: false)
    r = try PlaceOfService.resolve(location: office, payerRule: Self.rule(home: "02", notHome: "02"), patientAtHome: true, dateOfService: "1990-01-01")
    #expect(r.code.code == "11" && r.decidedBy == .locationCode)
  }

  @Test("a code not in effect on the date of service is POS_NOT_EFFECTIVE, with no fallback")
  func notEffective() {
    let tele = Self.location(telehealth: true)
    #expect(throws: DomainError.precondition(.posNotEffective, "POS 10 is not in effect on 2021-12-31 (effective 2022-01-01)")) {
      _ = try PlaceOfService.resolve(location: tele, payerRule: nil, patientAtHome: true, dateOfService: "2021-12-31")
    }
    #expect(throws: DomainError.self) {
      _ = try PlaceOfService.resolve(location: tele, payerRule: nil, patientAtHome: true, dateOfService: "2021-02-30")
    }
    #expect((try? PlaceOfService.resolve(location: tele, payerRule: nil, patientAtHome: true, dateOfService: "2022-01-01")) != nil)
  }

  @Test("02 and 10 are refused on a location that is not telehealth; an office needs an address")
  func locationRules() {
    var office = Self.location(telehealth: false, code: "02")
    #expect(throws: DomainError.self) { try LocationRules.validate(&office) }
    office.posCode = "10"
    #expect(throws: DomainError.self) { try LocationRules.validate(&office) }
    office.posCode = "11"
    #expect(throws: Never.self) { try LocationRules.validate(&office) }
    office.addressPresence = nil
    #expect(throws: DomainError.self) { try LocationRules.validate(&office) }
    var tele = Self.location(telehealth: true, code: "")
    #expect(throws: Never.self) { try LocationRules.validate(&tele) }
    #expect(tele.posCode == "02")
  }

  @Test("dates")
  func dates() {
    #expect(PlaceOfService.isValidDate("2024-02-29"))
    #expect(!PlaceOfService.isValidDate("2023-02-29"))
    #expect(!PlaceOfService.isValidDate("2024-13-01"))
    #expect(!PlaceOfService.isValidDate("24-01-01"))
  }
}

@Suite("Room rules")
struct RoomRulesTests {
  static func ms(_ iso: String) -> Int64 {
    Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
  }

  static func weekly(_ n: Int32, every interval: Int32 = 0) -> Practice_V1_WeeklyRecurrence {
    var w = Practice_V1_WeeklyRecurrence()
    w.occurrences = n
    w.intervalWeeks = interval
    return w
  }

  @Test("a weekly series across a daylight-saving change keeps its local wall-clock time")
  func dst() throws {
    // 10:00-10:50 in New York, weekly from 2026-02-26 across 2026-03-08 (clocks go forward).
    let start = Self.ms("2026-02-26T15:00:00Z"), end = Self.ms("2026-02-26T15:50:00Z")
    let occ = try RoomRules.occurrences(startMs: start, endMs: end, weekly: Self.weekly(4), timeZone: "America/New_York")
    #expect(occ.count == 4)
    var cal = Calendar(identifier: .gregorian)
    cal.timeZone = TimeZone(identifier: "America/New_York")!
    for o in occ {
      let d = cal.dateComponents([.hour, .minute, .weekday], from: Date(timeIntervalSince1970: Double(o.start) / 1000))
      #expect(d.hour == 10 && d.minute == 0 && d.weekday == 5)
      #expect(o.end - o.start == 50 * 60 * 1000)
    }
    // In UTC the series moves by an hour after the change.
    #expect(occ[1].start - occ[0].start == 7 * 24 * 3600 * 1000)
    #expect(occ[2].start - occ[1].start == (7 * 24 - 1) * 3600 * 1000)
  }

  @Test("lengths and counts")
  func limits() {
    let s: Int64 = 1_800_000_000_000
    #expect(throws: DomainError.self) { try RoomRules.occurrences(startMs: s, endMs: s, weekly: nil, timeZone: "UTC") }
    #expect(throws: DomainError.self) { try RoomRules.occurrences(startMs: s, endMs: s + 24 * 3600 * 1000 + 1, weekly: nil, timeZone: "UTC") }
    #expect(throws: Never.self) { try RoomRules.occurrences(startMs: s, endMs: s + 24 * 3600 * 1000, weekly: nil, timeZone: "UTC") }
    #expect(throws: DomainError.self) { try RoomRules.occurrences(startMs: s, endMs: s + 1000, weekly: Self.weekly(0), timeZone: "UTC") }
    #expect(throws: DomainError.self) { try RoomRules.occurrences(startMs: s, endMs: s + 1000, weekly: Self.weekly(105), timeZone: "UTC") }
    #expect((try? RoomRules.occurrences(startMs: s, endMs: s + 1000, weekly: Self.weekly(104), timeZone: "UTC"))?.count == 104)
  }

  @Test("every other week across both daylight-saving changes: 10:00 local each time, 14 days apart in local dates")
  func biweekly() throws {
    // 10:00-10:50 in New York, every 2 weeks from Monday 2030-02-25, 20 times: across 2030-03-10 and
    // 2030-11-03.
    let start = Self.ms("2030-02-25T15:00:00Z"), end = Self.ms("2030-02-25T15:50:00Z")
    let occ = try RoomRules.occurrences(startMs: start, endMs: end, weekly: Self.weekly(20, every: 2), timeZone: "America/New_York")
    #expect(occ.count == 20)
    var cal = Calendar(identifier: .gregorian)
    cal.timeZone = TimeZone(identifier: "America/New_York")!
    let days = occ.map { cal.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: Date(timeIntervalSince1970: Double($0.start) / 1000)) }
    #expect(days.allSatisfy { $0.hour == 10 && $0.minute == 0 && $0.weekday == 2 })
    for i in 1..<occ.count {
      let a = cal.date(from: DateComponents(year: days[i - 1].year, month: days[i - 1].month, day: days[i - 1].day))!
      let b = cal.date(from: DateComponents(year: days[i].year, month: days[i].month, day: days[i].day))!
      #expect(cal.dateComponents([.day], from: a, to: b).day == 14)
    }
    let utcHours = occ.map { ($0.start / 3_600_000) % 24 }
    #expect(utcHours.first == 15 && utcHours.contains(14) && utcHours.last == 15)
    #expect(occ.allSatisfy { $0.end - $0.start == 50 * 60 * 1000 })
    #expect(throws: DomainError.self) {
      try RoomRules.occurrences(startMs: start, endMs: end, weekly: Self.weekly(2, every: 5), timeZone: "UTC")
    }
  }

  @Test("an occurrence stretched past 24 hours by the fall-back change is refused, naming it")
  func dstStretch() {
    // Saturday 02:30 to Sunday 02:00 in New York is 23.5 hours, but 24.5 on the weekend of 2030-11-03.
    let start = Self.ms("2030-10-26T06:30:00Z"), end = Self.ms("2030-10-27T06:00:00Z")
    #expect(end - start == 23 * 3_600_000 + 30 * 60_000)
    do {
      _ = try RoomRules.occurrences(startMs: start, endMs: end, weekly: Self.weekly(2), timeZone: "America/New_York")
      Issue.record("the stretched occurrence was accepted")
    } catch {
      #expect(error.violations.map(\.field) == ["end_ms"])
      #expect(error.violations.first?.description.contains("occurrence 2") == true)
    }
  }

  @Test("[start, end): back to back is no overlap")
  func overlap() {
    #expect(!RoomRules.overlaps((0, 10), (10, 20)))
    #expect(RoomRules.overlaps((0, 11), (10, 20)))
    #expect(RoomRules.overlaps((5, 6), (0, 20)))
  }
}
